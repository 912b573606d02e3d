/**
 * One claimed job attempt, from work directory to report: prepare the work directory, stage in
 * the sandbox and the input files, run the payload, stage out the declared outputs and the
 * attempt's one log object (the pilot's notes around the payload's output). Never throws for the
 * job's own failures: every outcome becomes a report with a pilot error code.
 */
import { appendFile, chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClaimedJob, ReportInput } from '#core/api/pilots.ts';
import type { OutputFile, Usage } from '#core/jobs/job.ts';
import {
  PILOT_ERROR_CODES,
  PILOT_ERROR_DESCRIPTIONS,
  type PilotErrorCode,
} from '#core/pilots/pilot-error-codes.ts';
import { ATTEMPT_LOG_NAME } from '#core/storage/object-keys.ts';
import { resolvePayload } from '#core/tasks/substitute.ts';
import type { Logger } from '#platform/logger.ts';
import { adler32File } from './adler32.ts';
import { runPayload } from './payload-runner.ts';
import type { S3Storage } from './s3-storage.ts';
import { planStageIn, type StageInPlan, stageIn } from './stage-in.ts';
import { PILOT_VERSION } from './version.ts';

export interface RunJobContext {
  /** The task bucket (sandbox, `inputs/…`, outputs and logs); `s3://` inputs of other buckets go through its client. */
  storage: S3Storage;
  /** Parent of the jobs' work directories. */
  workRoot: string;
  host: string;
  pilotId?: string;
  siteId?: string;
  killGraceMs: number;
  logCapBytes: number;
  logCapAction?: 'kill' | 'truncate';
  /** Looping detection limit; none when undefined. */
  loopingSec?: number;
  pollMs?: number;
  logger: Logger;
  /** Aborting ends the payload; a pilot error code as the reason is reported (default EVICTED). */
  signal: AbortSignal;
  /** Called with the payload's process id (its process group) once it runs. */
  onSpawn?: (pid: number) => void;
  /** Free space of the work area, to refuse inputs that cannot fit. */
  freeDiskMB?: () => Promise<number>;
}

/** The name of one attempt's work directory: `<taskId>.<jobIndex>.a<attempt>`. */
export function jobDirName(job: { taskId: string; jobIndex: number; attempt: number }): string {
  return `${job.taskId}.${job.jobIndex}.a${job.attempt}`;
}

const PLAIN_NAME = /^[A-Za-z0-9._-]+$/;
function isPlainName(name: string): boolean {
  return PLAIN_NAME.test(name) && name !== '.' && name !== '..';
}

const ZERO_USAGE: Usage = { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 };
const ERROR_MESSAGE_MAX = 4000;
const ERROR_NAMES = new Map<number, string>(
  Object.entries(PILOT_ERROR_CODES).map(([name, code]) => [code, name] as [number, string]),
);

/** What the pilot notes in the attempt's log around the payload's output. */
interface AttemptFacts {
  startedAt: string;
  command?: string;
  args?: string[];
  inputs?: StageInPlan;
}

export async function runJob(job: ClaimedJob, ctx: RunJobContext): Promise<ReportInput> {
  const name = jobDirName(job);
  const workDir = join(ctx.workRoot, name);
  const logFile = join(ctx.workRoot, `${name}.log`);
  const logger = ctx.logger.child({ taskId: job.taskId, jobId: job.jobId, attempt: job.attempt });
  const facts: AttemptFacts = { startedAt: new Date().toISOString() };
  const report: ReportInput = {
    taskId: job.taskId,
    jobIndex: job.jobIndex,
    attempt: job.attempt,
    pilotErrorCode: PILOT_ERROR_CODES.OK,
    usage: ZERO_USAGE,
    outputs: [],
    host: ctx.host,
  };
  const fail = (code: PilotErrorCode, message: string): void => {
    report.pilotErrorCode = code;
    report.errorMessage = message.slice(0, ERROR_MESSAGE_MAX);
  };

  try {
    try {
      await rm(workDir, { recursive: true, force: true });
      await rm(logFile, { force: true });
      await mkdir(workDir, { recursive: true });
    } catch (error) {
      fail(PILOT_ERROR_CODES.WORKDIR_FAILED, `cannot prepare ${workDir}: ${(error as Error).message}`);
      return report;
    }

    if (await stageInAll(job, workDir, ctx, facts, fail)) {
      await runAndStageOut(job, workDir, logFile, ctx, facts, report, logger);
    }
    await stageOutLog(job, logFile, ctx, facts, report, logger);
    return report;
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    await rm(logFile, { force: true }).catch(() => {});
  }
}

/** Sandbox files, then input files. False (with the report failed as STAGE_IN_FAILED) on any failure. */
async function stageInAll(
  job: ClaimedJob,
  workDir: string,
  ctx: RunJobContext,
  facts: AttemptFacts,
  fail: (code: PilotErrorCode, message: string) => void,
): Promise<boolean> {
  try {
    for (const file of ctx.signal.aborted ? [] : job.payload.sandbox) {
      if (!isPlainName(file.name))
        throw new Error(`sandbox file name ${JSON.stringify(file.name)} is not a plain name`);
      const target = join(workDir, file.name);
      await ctx.storage.downloadFile(file.key, target, { sha256: file.sha256, bytes: file.bytes });
      await chmod(target, 0o755);
    }
    const plan = planStageIn(job, ctx.storage.bucket);
    facts.inputs = plan;
    await stageIn(plan, workDir, ctx.storage, {
      signal: ctx.signal,
      ...(ctx.freeDiskMB === undefined ? {} : { freeDiskMB: ctx.freeDiskMB }),
    });
    return true;
  } catch (error) {
    fail(PILOT_ERROR_CODES.STAGE_IN_FAILED, `stage-in failed: ${(error as Error).message}`);
    return false;
  }
}

async function runAndStageOut(
  job: ClaimedJob,
  workDir: string,
  logFile: string,
  ctx: RunJobContext,
  facts: AttemptFacts,
  report: ReportInput,
  logger: Logger,
): Promise<void> {
  const inputFiles = facts.inputs?.payloadNames ?? job.inputs?.map((i) => i.name);
  const resolved = resolvePayload(job.payload, {
    taskId: job.taskId,
    jobId: job.jobId,
    attempt: job.attempt,
    workDir,
    jobIndex: job.jobIndex,
    ...(job.firstEvent === undefined ? {} : { firstEvent: job.firstEvent }),
    ...(job.nEvents === undefined ? {} : { nEvents: job.nEvents }),
    ...(inputFiles === undefined ? {} : { inputFiles }),
  });
  facts.command = resolved.command;
  facts.args = resolved.args;
  await appendFile(logFile, headerLines(job, ctx, facts)).catch(() => {});
  logger.debug('payload starting', { command: resolved.command, args: resolved.args });
  const result = await runPayload({
    command: resolved.command,
    args: resolved.args,
    env: resolved.env,
    workDir,
    walltimeSec: job.resources.walltimeSec,
    memoryMB: job.resources.memoryMB,
    logFile,
    logCapBytes: ctx.logCapBytes,
    killGraceMs: ctx.killGraceMs,
    signal: ctx.signal,
    ...(ctx.logCapAction === undefined ? {} : { logCapAction: ctx.logCapAction }),
    ...(ctx.loopingSec === undefined ? {} : { loopingSec: ctx.loopingSec }),
    ...(ctx.pollMs === undefined ? {} : { pollMs: ctx.pollMs }),
    ...(ctx.onSpawn === undefined ? {} : { onSpawn: ctx.onSpawn }),
  });
  logger.debug('payload ended', {
    pilotErrorCode: result.pilotErrorCode,
    exitCode: result.exitCode,
    signal: result.signal,
    usage: result.usage,
  });
  report.usage = result.usage;
  report.pilotErrorCode = result.pilotErrorCode;
  // A batch-system kill (plain `scancel`, node shutdown) signals the payload and the pilot at the
  // same moment; when the payload's death is seen first, give the pilot's own stop a moment to
  // arrive, so the attempt counts as an eviction (system error) and not as the payload's failure.
  if (
    result.pilotErrorCode === PILOT_ERROR_CODES.PAYLOAD_SIGNALLED &&
    result.signal !== undefined &&
    STOP_SIGNALS.has(result.signal) &&
    (await aborted(ctx.signal, STOP_RACE_MS))
  ) {
    report.pilotErrorCode = PILOT_ERROR_CODES.EVICTED;
    result.pilotErrorCode = PILOT_ERROR_CODES.EVICTED;
  }
  if (result.exitCode !== undefined) report.exitCode = result.exitCode;
  if (result.signal !== undefined) report.signal = result.signal;
  if (result.errorMessage !== undefined)
    report.errorMessage = result.errorMessage.slice(0, ERROR_MESSAGE_MAX);

  if (result.pilotErrorCode === PILOT_ERROR_CODES.OK) {
    const outputs = await stageOutOutputs(job, workDir, ctx, report);
    if (outputs !== undefined) report.outputs = outputs;
  }
}

/** Uploads the declared outputs; on a missing output or a failed upload sets the report's error and returns undefined. */
async function stageOutOutputs(
  job: ClaimedJob,
  workDir: string,
  ctx: RunJobContext,
  report: ReportInput,
): Promise<OutputFile[] | undefined> {
  const missing: string[] = [];
  for (const name of job.outputs) {
    const isFile =
      isPlainName(name) &&
      (await stat(join(workDir, name)).then(
        (s) => s.isFile(),
        () => false,
      ));
    if (!isFile) missing.push(name);
  }
  if (missing.length > 0) {
    report.pilotErrorCode = PILOT_ERROR_CODES.OUTPUT_MISSING;
    report.errorMessage = `declared output${missing.length > 1 ? 's' : ''} not written by the payload: ${missing.join(', ')}`;
    return undefined;
  }
  const outputs: OutputFile[] = [];
  try {
    for (const name of job.outputs) {
      const path = join(workDir, name);
      const { adler32, bytes } = await adler32File(path);
      const key = `${job.outputPrefix}${name}`;
      await ctx.storage.uploadFile(key, path, 'application/octet-stream', { adler32 });
      outputs.push({ name, key, bytes, adler32 });
    }
  } catch (error) {
    report.pilotErrorCode = PILOT_ERROR_CODES.STAGE_OUT_FAILED;
    report.errorMessage = `stage-out failed: ${(error as Error).message}`.slice(0, ERROR_MESSAGE_MAX);
    return undefined;
  }
  return outputs;
}

/** The pilot's note before the payload's output: who ran what, where. */
function headerLines(job: ClaimedJob, ctx: RunJobContext, facts: AttemptFacts): string {
  const lines = [
    `# gluon-pilot ${PILOT_VERSION}: task ${job.taskId}, job ${job.jobIndex}, attempt ${job.attempt}`,
    `# pilot ${ctx.pilotId ?? '?'} at site ${ctx.siteId ?? '?'} on ${ctx.host}, claimed ${facts.startedAt}`,
    `# command: ${[facts.command, ...(facts.args ?? [])].map((a) => JSON.stringify(a)).join(' ')}`,
    ...(facts.inputs?.downloads.map(
      (d) => `# input: ${d.name} -> ${d.localName}${d.adler32 ? ` adler32 ${d.adler32}` : ''}`,
    ) ?? []),
    '# ---- payload output ----',
  ];
  return `${lines.join('\n')}\n`;
}

/** The pilot's note after it: how the attempt ended. */
function footerLines(report: ReportInput): string {
  const code = report.pilotErrorCode as PilotErrorCode;
  const lines = [
    '# ---- end of payload output ----',
    `# ended ${new Date().toISOString()}: ${ERROR_NAMES.get(code) ?? code} (${code}) ${PILOT_ERROR_DESCRIPTIONS[code] ?? ''}`,
    ...(report.exitCode === undefined ? [] : [`# exit code ${report.exitCode}`]),
    ...(report.signal === undefined ? [] : [`# signal ${report.signal}`]),
    `# usage: wall ${report.usage.wallTimeSec} s, cpu ${report.usage.cpuTimeSec} s, max rss ${report.usage.maxRssKB} kB`,
    ...(report.outputs ?? []).map((o) => `# output: ${o.name} ${o.bytes} bytes adler32 ${o.adler32 ?? '?'}`),
    ...(report.errorMessage === undefined ? [] : [`# error: ${report.errorMessage.split('\n')[0]}`]),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Uploads the attempt's one log object (the pilot's notes and the payload's output, one PUT); a
 * failure fails an otherwise successful attempt with STAGE_OUT_FAILED.
 */
async function stageOutLog(
  job: ClaimedJob,
  logFile: string,
  ctx: RunJobContext,
  facts: AttemptFacts,
  report: ReportInput,
  logger: Logger,
): Promise<void> {
  try {
    if (facts.command === undefined) await appendFile(logFile, headerLines(job, ctx, facts));
    await appendFile(logFile, footerLines(report));
    const { adler32, bytes } = await adler32File(logFile);
    await ctx.storage.uploadFile(job.logKey, logFile, 'text/plain; charset=utf-8', { adler32 });
    report.log = { name: ATTEMPT_LOG_NAME, key: job.logKey, bytes, adler32 };
  } catch (error) {
    logger.error('stage-out of the log failed', { error });
    if (report.pilotErrorCode !== PILOT_ERROR_CODES.OK) return;
    report.pilotErrorCode = PILOT_ERROR_CODES.STAGE_OUT_FAILED;
    report.errorMessage = `stage-out of the log failed: ${(error as Error).message}`.slice(
      0,
      ERROR_MESSAGE_MAX,
    );
  }
}

const STOP_SIGNALS: ReadonlySet<string> = new Set(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL']);
const STOP_RACE_MS = 1500;

/** True if `signal` is aborted now or within `ms`. */
function aborted(signal: AbortSignal, ms: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
