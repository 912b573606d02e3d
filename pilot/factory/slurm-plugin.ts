/**
 * The Slurm plugin of the pilot factory: `sbatch` submits one pilot per batch job (the script on
 * stdin, the pilot's variables passed by name with `--export`, so no value shows on a command line),
 * `squeue` lists this user's jobs of the factory's job name, `scancel` cancels one.
 */
import { userInfo } from 'node:os';
import { shellQuote } from '#core/provisioning/shell-quote.ts';
import {
  BATCH_ID_PLACEHOLDER,
  type BatchJob,
  type BatchJobState,
  type BatchPlugin,
  BatchSystemError,
  type PilotJobSpec,
  type SubmitOutcome,
} from './batch-plugin.ts';
import { type CommandResult, type CommandRunner, runCommand } from './run-command.ts';

export { shellQuote };

export interface SlurmPluginOptions {
  /** Environment of the Slurm commands (SLURM_CONF, SBATCH_* …); default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Whose jobs list() shows; default the current user. */
  user?: string;
  /** Runs sbatch/squeue/scancel; tests pass a fake. */
  run?: CommandRunner;
  /** Timeout of one Slurm command (default 60 s). */
  timeoutMs?: number;
}

/** Variables of the factory's environment every pilot gets, when set (as a login shell would have). */
export const BASE_PILOT_VARIABLES = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

const PENDING_STATES = new Set([
  'PENDING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
  'SPECIAL_EXIT',
]);
const RUNNING_STATES = new Set([
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SUSPENDED',
  'STOPPED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
]);

/** A Slurm job state (`%T` of squeue) as the factory counts it; unknown states count as running. */
export function slurmStateOf(raw: string): BatchJobState {
  const state = raw.trim().toUpperCase();
  if (PENDING_STATES.has(state)) return 'pending';
  if (RUNNING_STATES.has(state)) return 'running';
  const ended = [
    'COMPLETED',
    'CANCELLED',
    'FAILED',
    'TIMEOUT',
    'NODE_FAIL',
    'PREEMPTED',
    'BOOT_FAIL',
    'DEADLINE',
    'OUT_OF_MEMORY',
    'REVOKED',
  ];
  if (ended.includes(state)) return 'ended';
  // Never under-count what holds or may soon hold a slot.
  return 'running';
}

/** The squeue format list() asks for: job id and extended state, `|`-separated. */
export const SQUEUE_FORMAT = '%i|%T';

/** Parses `squeue -h -o '%i|%T'` output. Throws BatchSystemError on a line it cannot read. */
export function parseSqueueOutput(stdout: string): BatchJob[] {
  const jobs: BatchJob[] = [];
  for (const line of stdout.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const match = /^(\d+(?:_\d+)?(?:\+\d+)?)\|([A-Z_]+)$/.exec(trimmed);
    if (match === null) throw new BatchSystemError(`unexpected squeue line: ${JSON.stringify(trimmed)}`);
    const [, id, rawState] = match as unknown as [string, string, string];
    jobs.push({ id, state: slurmStateOf(rawState), rawState });
  }
  return jobs;
}

/** Parses `sbatch --parsable` output (`<jobid>` or `<jobid>;<cluster>`), ignoring warning lines. */
export function parseSbatchOutput(stdout: string): string {
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const last = lines.at(-1) ?? '';
  const match = /^(\d+)(?:;[\w-]+)?$/.exec(last);
  if (match === null)
    throw new BatchSystemError(`unexpected sbatch output: ${JSON.stringify(stdout.trim())}`);
  return match[1] as string;
}

/** The batch script of one pilot: it execs the pilot command, with `$SLURM_JOB_ID` as its batch id. */
export function slurmScript(spec: PilotJobSpec): string {
  const words = spec.command.map((word) =>
    word === BATCH_ID_PLACEHOLDER ? '"$SLURM_JOB_ID"' : shellQuote(word),
  );
  return [
    '#!/bin/sh',
    `# Gluon pilot (${spec.jobName}), submitted by gluon-pilot factory`,
    `exec ${words.join(' ')}`,
    '',
  ].join('\n');
}

/** Slurm's time limit in whole minutes (at least 1), rounded up. */
export function slurmTimeLimit(walltimeSec: number): string {
  return String(Math.max(1, Math.ceil(walltimeSec / 60)));
}

/**
 * The sbatch arguments of one pilot. `--export` lists variable NAMES only: the values come from
 * sbatch's own environment (see submit), so the token never appears on a command line.
 */
export function sbatchArgs(spec: PilotJobSpec, exportNames: string[]): string[] {
  const args = [
    '--parsable',
    `--job-name=${spec.jobName}`,
    `--output=${spec.logDir}/%x-%j.log`,
    `--chdir=${spec.logDir}`,
    '--ntasks=1',
    `--cpus-per-task=${spec.cores}`,
    `--mem=${spec.memoryMB}M`,
    `--time=${slurmTimeLimit(spec.walltimeSec)}`,
    // Only the listed variables (and Slurm's own SLURM_*) reach the pilot.
    `--export=${exportNames.length > 0 ? exportNames.join(',') : 'NONE'}`,
  ];
  if (spec.partition !== undefined) args.push(`--partition=${spec.partition}`);
  if (spec.account !== undefined) args.push(`--account=${spec.account}`);
  return args;
}

export class SlurmPlugin implements BatchPlugin {
  readonly name = 'slurm';
  private readonly env: NodeJS.ProcessEnv;
  private readonly user: string;
  private readonly run: CommandRunner;
  private readonly timeoutMs: number;

  constructor(options: SlurmPluginOptions = {}) {
    this.env = options.env ?? process.env;
    this.user = options.user ?? userInfo().username;
    this.run = options.run ?? runCommand;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  async submit(count: number, spec: PilotJobSpec): Promise<SubmitOutcome> {
    const env: NodeJS.ProcessEnv = { ...this.env, ...spec.env };
    const names = [
      ...new Set([...BASE_PILOT_VARIABLES.filter((n) => env[n] !== undefined), ...Object.keys(spec.env)]),
    ];
    const args = sbatchArgs(spec, names);
    const script = slurmScript(spec);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      try {
        const result = await this.exec('sbatch', args, { input: script, env });
        ids.push(parseSbatchOutput(result.stdout));
      } catch (error) {
        return { ids, error: asBatchError(error) };
      }
    }
    return { ids };
  }

  async list(jobName: string): Promise<BatchJob[]> {
    const result = await this.exec('squeue', [
      '--noheader',
      '--array',
      `--user=${this.user}`,
      `--name=${jobName}`,
      `--format=${SQUEUE_FORMAT}`,
    ]);
    return parseSqueueOutput(result.stdout);
  }

  async cancel(id: string): Promise<void> {
    if (!/^\d+(?:_\d+)?$/.test(id)) throw new BatchSystemError(`not a Slurm job id: ${JSON.stringify(id)}`);
    await this.exec('scancel', [id]);
  }

  private async exec(
    command: string,
    args: string[],
    options: { input?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<CommandResult> {
    let result: CommandResult;
    try {
      result = await this.run(command, args, {
        env: options.env ?? this.env,
        timeoutMs: this.timeoutMs,
        ...(options.input === undefined ? {} : { input: options.input }),
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new BatchSystemError(
        code === 'ENOENT'
          ? `${command} not found: is Slurm installed here and on PATH?`
          : `${command} could not be started: ${(error as Error).message}`,
      );
    }
    if (result.code !== 0) {
      const why = result.code === null ? 'was killed (timeout?)' : `exited with ${result.code}`;
      throw new BatchSystemError(`${command} ${why}: ${result.stderr.trim().slice(0, 500)}`);
    }
    return result;
  }
}

function asBatchError(error: unknown): BatchSystemError {
  return error instanceof BatchSystemError
    ? error
    : new BatchSystemError(String((error as Error).message ?? error));
}
