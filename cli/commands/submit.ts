import { createHash, randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { IDEMPOTENCY_KEY_HEADER } from '#client/gluon-client.ts';
import type { SubmitTaskResponse } from '#core/api/index.ts';
import { type FieldIssue, ValidationError } from '#core/errors.ts';
import { parseTaskSpec, type TaskSpec } from '#core/tasks/task-spec.ts';
import type { ApiClient } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { formatKB } from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  clientFor,
  parsePositiveSeconds,
  printJson,
} from './common.ts';
import { runWatch, watchTask } from './status.ts';

/** A sandbox file given in the spec file as a local path, read and hashed. */
export interface LocalSandboxFile {
  /** Index in `payload.sandbox`. */
  index: number;
  /** As written in the spec file. */
  given: string;
  path: string;
  name: string;
  sha256: string;
  bytes: number;
  content: Buffer;
}

/** A spec file read, its local sandbox files hashed, and everything checked that can be checked offline. */
export interface LocalTaskSpec {
  path: string;
  /** The spec as parsed from YAML/JSON, sandbox entries still as written. */
  raw: Record<string, unknown>;
  localFiles: LocalSandboxFile[];
}

export interface SubmittedTask extends SubmitTaskResponse {
  spec: TaskSpec;
  /** Sandbox files uploaded for this submission. */
  uploaded: Array<{ name: string; key: string; sha256: string; bytes: number }>;
}

const PENDING_KEY = 'pending-upload';

function invalid(path: string, issues: FieldIssue[]): CliError {
  return new CliError(`invalid task spec ${path}`, { exitCode: 2, issues });
}

/** Validates with the core schema, reporting every bad field as a CliError (exit 2). */
function validate(path: string, value: unknown): TaskSpec {
  try {
    return parseTaskSpec(value);
  } catch (error) {
    if (error instanceof ValidationError) throw invalid(path, error.issues);
    throw error;
  }
}

function withSandbox(raw: Record<string, unknown>, sandbox: unknown[]): Record<string, unknown> {
  const payload = raw.payload as Record<string, unknown>;
  return { ...raw, payload: { ...payload, sandbox } };
}

export async function readSandboxFile(
  specPath: string,
  index: number,
  given: string,
): Promise<LocalSandboxFile | FieldIssue> {
  const path = resolve(dirname(specPath), given);
  const field = `spec.payload.sandbox.${index}`;
  let content: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) return { field, message: `sandbox entry ${given} is not a regular file: ${path}` };
    content = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? (error as Error).message})`;
    return { field, message: `sandbox file ${given} ${why}: looked for ${path}` };
  }
  return {
    index,
    given,
    path,
    name: basename(path),
    sha256: createHash('sha256').update(content).digest('hex'),
    bytes: content.length,
    content,
  };
}

/** Schema issues of a value, as field issues (none when it is valid). */
function schemaIssues(path: string, value: unknown): FieldIssue[] {
  try {
    validate(path, value);
    return [];
  } catch (error) {
    if (error instanceof CliError) return error.issues;
    throw error;
  }
}

/**
 * Reads a YAML or JSON spec file (`what`: "task spec", "meta-task spec") that must hold a mapping;
 * a missing file, bad YAML or another shape is a CliError (exit 2) naming the file.
 */
export async function readSpecMapping(
  file: string,
  cwd: string,
  what: string,
  expected: string,
): Promise<{ path: string; value: Record<string, unknown> }> {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `${what} file not found: ${path}`
        : `cannot read ${path}: ${(error as Error).message}`,
      { exitCode: 2 },
    );
  }
  const invalidFile = (issues: FieldIssue[]) =>
    new CliError(`invalid ${what} ${path}`, { exitCode: 2, issues });
  let value: unknown;
  try {
    value = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw invalidFile([{ field: basename(path), message: (error as Error).message.trim() }]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidFile([{ field: '(root)', message: expected }]);
  }
  return { path, value: value as Record<string, unknown> };
}

/**
 * Reads a YAML or JSON task spec file. Sandbox entries may be local paths (relative to the spec
 * file); they are read and hashed here. The whole spec is validated with those entries standing in
 * for their uploads, so every bad field is reported before anything is sent. Throws CliError (exit 2).
 */
export async function readTaskSpecFile(file: string, cwd = process.cwd()): Promise<LocalTaskSpec> {
  const { path, value: raw } = await readSpecMapping(
    file,
    cwd,
    'task spec',
    'expected a mapping with name, payload, events or inputs, …',
  );
  const payload = raw.payload;
  const sandbox =
    typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? (payload as Record<string, unknown>).sandbox
      : undefined;
  const localFiles: LocalSandboxFile[] = [];
  if (Array.isArray(sandbox)) {
    const issues: FieldIssue[] = [];
    const standIn = [...sandbox];
    const seen = new Map<string, string>();
    for (const [index, entry] of sandbox.entries()) {
      if (typeof entry !== 'string') continue;
      const read = await readSandboxFile(path, index, entry);
      if ('field' in read) {
        issues.push(read);
        standIn[index] = { name: basename(entry), key: PENDING_KEY, sha256: '0'.repeat(64), bytes: 0 };
        continue;
      }
      localFiles.push(read);
      standIn[index] = { name: read.name, key: PENDING_KEY, sha256: read.sha256, bytes: read.bytes };
      const earlier = seen.get(read.name);
      if (earlier !== undefined) {
        issues.push({
          field: `spec.payload.sandbox.${index}`,
          message: `${entry} and ${earlier} would both be ${read.name} in the job's work directory`,
        });
      }
      seen.set(read.name, entry);
    }
    issues.push(...schemaIssues(path, withSandbox(raw, standIn)));
    if (issues.length > 0) throw invalid(path, issues);
  } else {
    validate(path, raw);
  }
  return { path, raw, localFiles };
}

/**
 * Uploads the local sandbox files (POST /sandboxes for presigned URLs, then one PUT each) and
 * returns the spec with each local path replaced by `{name, key, sha256, bytes}`, validated.
 */
export async function uploadSandbox(
  client: ApiClient,
  local: LocalTaskSpec,
  onUploaded?: (file: LocalSandboxFile) => void,
): Promise<{ spec: TaskSpec; uploaded: SubmittedTask['uploaded'] }> {
  if (local.localFiles.length === 0) return { spec: validate(local.path, local.raw), uploaded: [] };
  const answer = await client.call('createSandbox', {
    body: { files: local.localFiles.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes })) },
  });
  const payload = local.raw.payload as Record<string, unknown>;
  const sandbox = [...(payload.sandbox as unknown[])];
  const uploaded: SubmittedTask['uploaded'] = [];
  for (const f of local.localFiles) {
    const target = answer.files.find((a) => a.name === f.name && a.sha256 === f.sha256);
    if (target === undefined) {
      throw new CliError(`the API gave no upload URL for sandbox file ${f.name}`, { exitCode: 1 });
    }
    await client.upload(target.uploadUrl, f.content);
    onUploaded?.(f);
    const entry = { name: f.name, key: target.key, sha256: f.sha256, bytes: f.bytes };
    sandbox[f.index] = entry;
    uploaded.push(entry);
  }
  return { spec: validate(local.path, withSandbox(local.raw, sandbox)), uploaded };
}

/** Reads, checks, uploads the sandbox of and submits a task spec file. */
export async function submitTaskFile(
  client: ApiClient,
  file: string,
  options: { cwd?: string; onUploaded?: (file: LocalSandboxFile) => void } = {},
): Promise<SubmittedTask> {
  const local = await readTaskSpecFile(file, options.cwd);
  return submitLocalSpec(client, local, options.onUploaded);
}

async function submitLocalSpec(
  client: ApiClient,
  local: LocalTaskSpec,
  onUploaded?: (file: LocalSandboxFile) => void,
): Promise<SubmittedTask> {
  const { spec, uploaded } = await uploadSandbox(client, local, onUploaded);
  // One key per submit: the client's retries of this call can then never make a second task.
  const answer = await client.call('submitTask', {
    body: spec,
    headers: { [IDEMPOTENCY_KEY_HEADER]: randomUUID() },
  });
  return { ...answer, spec, uploaded };
}

interface SubmitOptions extends CommonOptions {
  watch?: boolean;
  wait?: boolean;
  interval?: number;
}

/** `gluon submit --wait` exits with the task's end: each end its own code (1 and 2 keep their meaning). */
export const WAIT_EXIT: Readonly<Record<'done' | 'failed' | 'partial' | 'cancelled', number>> = {
  done: 0,
  failed: 3,
  partial: 4,
  cancelled: 5,
};

/** Waits (polling as `gluon status --watch` does, silently) for the task to end; prints its outcome. */
async function waitForEnd(
  io: CliContext['io'],
  client: ApiClient,
  taskId: string,
  options: { json?: boolean; intervalSec: number },
): Promise<number> {
  const task = await watchTask(client, taskId, { intervalMs: options.intervalSec * 1000 });
  const end = task.state as keyof typeof WAIT_EXIT;
  if (options.json)
    printJson(io, { taskId, state: task.state, counts: task.counts, reason: task.reason }, false);
  else {
    const { finished, failed, cancelled } = task.counts;
    const reason = task.reason === undefined ? '' : ` (${task.reason})`;
    writeLine(
      io.stdout,
      `task ${taskId} ${task.state}: ${finished} finished, ${failed} failed, ${cancelled} cancelled of ${task.jobCount} jobs${reason}`,
    );
  }
  return WAIT_EXIT[end] ?? 1;
}

export const SUBMIT_HELP = `
The spec file (YAML or JSON) describes one task:

  name: zmumu-demo              # letters, digits, . _ -
  payload:
    command: node               # run by the pilot in the job's work directory
    args: ["zmumu.mjs", "--first-event", "\${firstEvent}", "--n-events", "\${nEvents}"]
    env: {}                     # extra environment variables
    sandbox: [zmumu.mjs]        # local files (relative to the spec file), uploaded on submit
  events: 20000                 # generation: number of events …
  split: { eventsPerJob: 2000 } # … cut into jobs of this many events
  # inputs: { files: [a.root, b.root] } and split: { filesPerJob: 1 } for processing tasks
  resources: { cores: 1, memoryMB: 500, walltimeSec: 300, diskMB: 1000 }
  maxAttempts: 3                # attempts per job, retries included
  priority: 500                 # 0-1000
  outputs: [histogram.json]     # files each job writes; stored under the job's S3 prefix
  sites: { allow: [local], deny: [] }

Placeholders in command, args and env: \${taskId} \${jobId} \${jobIndex} \${attempt}
\${firstEvent} \${nEvents} \${inputFiles} \${workDir} (also given as GLUON_* variables).
The spec is checked before anything is sent; every bad field is listed (exit 2).

With --wait the command waits for the task to end, prints its outcome and exits with it:
  0 done    3 failed    4 partial    5 cancelled
  (1: the API refused or could not be reached; 2: bad usage or spec file)

Examples:
  gluon submit examples/zmumu/task.yaml --watch
  gluon submit task.json --json
  gluon submit task.yaml --wait && echo "all jobs finished"
`;

export function registerSubmit(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('submit')
      .description('submit a task from a YAML or JSON spec file (uploading its sandbox files)')
      .argument('<file>', 'task spec file (.yaml, .yml or .json)')
      .option('-w, --watch', 'then follow the task as `gluon status --watch` does')
      .option('--wait', 'then wait for the task to end and exit with its outcome (codes below)')
      .option(
        '--interval <sec>',
        'seconds between refreshes with --watch or --wait',
        parsePositiveSeconds,
        1,
      ),
  )
    .addHelpText('after', SUBMIT_HELP)
    .action(async (file: string, options: SubmitOptions) => {
      if (options.watch && options.wait)
        throw new CliError('give --watch or --wait, not both', { exitCode: 2 });
      const local = await readTaskSpecFile(file, io.cwd);
      const client = clientFor(io, options);
      const submitted = await submitLocalSpec(client, local, (f) => {
        if (!options.json)
          writeLine(io.stdout, `uploaded ${f.name} (${formatKB(Math.ceil(f.bytes / 1024))})`);
      });
      if (options.json) {
        const { taskId, state, jobCount, uploaded } = submitted;
        printJson(io, { taskId, state, jobCount, sandbox: uploaded }, !options.watch && !options.wait);
      } else {
        writeLine(io.stdout, `submitted task ${submitted.taskId} (${submitted.spec.name})`);
        if (!options.watch && !options.wait)
          writeLine(io.stdout, `follow it with: gluon status ${submitted.taskId} --watch`);
      }
      if (options.watch) {
        ctx.exitCode = await runWatch(io, client, submitted.taskId, {
          json: options.json,
          intervalSec: options.interval ?? 1,
        });
      }
      if (options.wait) {
        ctx.exitCode = await waitForEnd(io, client, submitted.taskId, {
          json: options.json,
          intervalSec: options.interval ?? 1,
        });
      }
    });
}
