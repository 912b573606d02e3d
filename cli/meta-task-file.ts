/**
 * A meta-task spec file (`gluon dag submit`, the chain demo): read and checked offline like a task
 * spec file, with every node's local sandbox files (relative to the spec file) read, hashed,
 * uploaded once each (POST /sandboxes, then one PUT per file) and replaced by their uploads.
 */
import { basename } from 'node:path';
import { type FieldIssue, ValidationError } from '#core/errors.ts';
import { type MetaTaskSpecInput, validateMetaTaskSpec } from '#core/meta-tasks/meta-task-spec.ts';
import type { ApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { type LocalSandboxFile, readSandboxFile, readSpecMapping } from './commands/submit.ts';

/** One node's local sandbox file: where it sits in the spec and what it is. */
export interface NodeSandboxFile {
  node: number;
  /** The node's payload: its task's or its merge step's. */
  kind: 'task' | 'merge';
  file: LocalSandboxFile;
}

export interface LocalMetaTaskSpec {
  path: string;
  /** The spec as parsed, sandbox entries still as written. */
  raw: Record<string, unknown>;
  files: NodeSandboxFile[];
}

export interface SubmittedMetaTask {
  metaTaskId: string;
  /** Sandbox files uploaded for this submission, each once however many nodes use it. */
  uploaded: Array<{ name: string; key: string; sha256: string; bytes: number }>;
}

/** Files per POST /sandboxes (the API's limit). */
const SANDBOX_BATCH = 32;
/** Stands in for the offline check; the API decides the real owner. */
const CHECK_OWNER = 'cli';

function invalid(path: string, issues: FieldIssue[]): CliError {
  return new CliError(`invalid meta-task spec ${path}`, { exitCode: 2, issues });
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The payload of node `i` (its task's or its merge step's), if it has one. */
function payloadOf(node: unknown): { kind: 'task' | 'merge'; payload: Record<string, unknown> } | undefined {
  if (!isMapping(node)) return undefined;
  for (const kind of ['task', 'merge'] as const) {
    const part = node[kind];
    if (isMapping(part) && isMapping(part.payload)) return { kind, payload: part.payload };
  }
  return undefined;
}

/** The spec with each node's sandbox entries replaced as `replace(node, kind, index, entry)` says. */
function mapSandboxes(
  raw: Record<string, unknown>,
  replace: (node: number, kind: 'task' | 'merge', index: number, entry: unknown) => unknown,
): Record<string, unknown> {
  if (!Array.isArray(raw.nodes)) return raw;
  const nodes = raw.nodes.map((node: unknown, i) => {
    const found = payloadOf(node);
    if (found === undefined || !Array.isArray(found.payload.sandbox)) return node;
    const sandbox = found.payload.sandbox.map((entry: unknown, j) => replace(i, found.kind, j, entry));
    const part = (node as Record<string, Record<string, unknown>>)[found.kind];
    return { ...(node as object), [found.kind]: { ...part, payload: { ...found.payload, sandbox } } };
  });
  return { ...raw, nodes };
}

/**
 * Reads a YAML or JSON meta-task spec file and its nodes' local sandbox files, and checks the
 * whole spec as the API will (each node's task spec included), with stand-ins for the uploads,
 * so that every bad field is reported before anything is sent. Throws CliError (exit 2).
 */
export async function readMetaTaskSpecFile(file: string, cwd = process.cwd()): Promise<LocalMetaTaskSpec> {
  const { path, value } = await readSpecMapping(
    file,
    cwd,
    'meta-task spec',
    'expected a mapping with name, nodes, …',
  );
  const files: NodeSandboxFile[] = [];
  const issues: FieldIssue[] = [];
  const reads: Promise<void>[] = [];
  mapSandboxes(value, (node, kind, index, entry) => {
    if (typeof entry !== 'string') return entry;
    reads.push(
      readSandboxFile(path, index, entry).then((read) => {
        const field = `nodes[${node}].${kind}.payload.sandbox[${index}]`;
        if ('field' in read) issues.push({ field, message: read.message });
        else files.push({ node, kind, file: read });
      }),
    );
    return entry;
  });
  await Promise.all(reads);
  const standIns = mapSandboxes(value, (node, kind, index, entry) => {
    if (typeof entry !== 'string') return entry;
    const read = files.find((f) => f.node === node && f.kind === kind && f.file.index === index)?.file;
    return {
      name: read?.name ?? basename(entry),
      key: 'pending-upload',
      sha256: read?.sha256 ?? '0'.repeat(64),
      bytes: read?.bytes ?? 0,
    };
  });
  try {
    validateMetaTaskSpec(standIns, CHECK_OWNER);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    issues.push(...error.issues);
  }
  if (issues.length > 0) throw invalid(path, issues);
  return { path, raw: value, files };
}

/** Uploads the nodes' local sandbox files (each distinct file once) and returns the spec with the uploads in their places. */
export async function uploadMetaTaskSandboxes(
  client: ApiClient,
  local: LocalMetaTaskSpec,
  onUploaded?: (file: LocalSandboxFile) => void,
): Promise<{ spec: Record<string, unknown>; uploaded: SubmittedMetaTask['uploaded'] }> {
  const distinct = new Map<string, LocalSandboxFile>();
  for (const { file } of local.files) distinct.set(`${file.name}/${file.sha256}`, file);
  const uploads = new Map<string, { name: string; key: string; sha256: string; bytes: number }>();
  const pending = [...distinct.values()];
  for (let i = 0; i < pending.length; i += SANDBOX_BATCH) {
    const batch = pending.slice(i, i + SANDBOX_BATCH);
    const answer = await client.call('createSandbox', {
      body: { files: batch.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes })) },
    });
    for (const f of batch) {
      const target = answer.files.find((a) => a.name === f.name && a.sha256 === f.sha256);
      if (target === undefined) {
        throw new CliError(`the API gave no upload URL for sandbox file ${f.name}`, { exitCode: 1 });
      }
      await client.upload(target.uploadUrl, f.content);
      onUploaded?.(f);
      uploads.set(`${f.name}/${f.sha256}`, {
        name: f.name,
        key: target.key,
        sha256: f.sha256,
        bytes: f.bytes,
      });
    }
  }
  const spec = mapSandboxes(local.raw, (node, kind, index, entry) => {
    const read = local.files.find((f) => f.node === node && f.kind === kind && f.file.index === index)?.file;
    return read === undefined ? entry : uploads.get(`${read.name}/${read.sha256}`);
  });
  return { spec, uploaded: [...uploads.values()] };
}

/** Reads, checks, uploads the sandboxes of and submits a meta-task spec file. */
export async function submitMetaTaskFile(
  client: ApiClient,
  file: string,
  options: { cwd?: string; onUploaded?: (file: LocalSandboxFile) => void } = {},
): Promise<SubmittedMetaTask> {
  return submitLocalMetaTask(client, await readMetaTaskSpecFile(file, options.cwd), options.onUploaded);
}

/** Uploads the sandboxes of a meta-task spec file already read and checked, and submits it. */
export async function submitLocalMetaTask(
  client: ApiClient,
  local: LocalMetaTaskSpec,
  onUploaded?: (file: LocalSandboxFile) => void,
): Promise<SubmittedMetaTask> {
  const { spec, uploaded } = await uploadMetaTaskSandboxes(client, local, onUploaded);
  const answer = await client.call('submitMetaTask', { body: spec as MetaTaskSpecInput });
  return { metaTaskId: answer.metaTaskId, uploaded };
}
