/**
 * One claimed job attempt, from work directory to completion report: prepare the work directory,
 * stage in the sandbox and the input files, run the payload, stage out the declared outputs, the
 * payload log and the log tarball. Never throws for the job's own failures: every outcome becomes
 * a CompleteRequest with a pilot error code.
 */
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClaimedJob, CompleteRequest } from '#core/api/contract.ts';
import type { OutputFile, Usage } from '#core/jobs/job.ts';
import {
  PILOT_ERROR_CODES,
  PILOT_ERROR_DESCRIPTIONS,
  type PilotErrorCode,
} from '#core/pilots/pilot-error-codes.ts';
import { resolvePayload } from '#core/tasks/substitute.ts';
import { adler32File } from './adler32.ts';
import { writeLogArchive } from './log-archive.ts';
import type { Logger } from './logger.ts';
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

/** Key of the plain payload log (the report's logKey) and of the log tarball, under the attempt's prefix. */
export const PAYLOAD_LOG_NAME = 'payload.log';
export const LOG_ARCHIVE_NAME = 'log.tgz';

const PLAIN_NAME = /^[A-Za-z0-9._-]+$/;
function isPlainName(name: string): boolean {
  return PLAIN_NAME.test(name) && name !== '.' && name !== '..';
}

const ZERO_USAGE: Usage = { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 };
const ERROR_MESSAGE_MAX = 4000;
const ERROR_NAMES = new Map<number, string>(
  Object.entries(PILOT_ERROR_CODES).map(([name, code]) => [code, name] as [number, string]),
);

/** What went into the tarball's metadata.json besides the report. */
interface AttemptFacts {
  startedAt: string;
  command?: string;
  args?: string[];
  inputs?: StageInPlan;
  payloadLog?: { bytes: number; adler32: string };
}

export async function runJob(job: ClaimedJob, ctx: RunJobContext): Promise<CompleteRequest> {
  const name = jobDirName(job);
  const workDir = join(ctx.workRoot, name);
  const logFile = join(ctx.workRoot, `${name}.log`);
  const archiveFile = join(ctx.workRoot, `${name}.log.tgz`);
  const logger = ctx.logger.child({ taskId: job.taskId, jobId: job.jobId, attempt: job.attempt });
  const facts: AttemptFacts = { startedAt: new Date().toISOString() };
  const report: CompleteRequest = {
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
    await stageOutLogs(job, logFile, archiveFile, ctx, facts, report, logger);
    return report;
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    await rm(logFile, { force: true }).catch(() => {});
    await rm(archiveFile, { force: true }).catch(() => {});
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
  report: CompleteRequest,
  logger: Logger,
): Promise<void> {
  const inputFiles = facts.inputs?.payloadNames ?? job.inputFiles;
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
  logger.info('payload starting', { command: resolved.command, args: resolved.args });
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
  logger.info('payload ended', {
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
  report: CompleteRequest,
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

/**
 * Uploads the plain payload log (the report's logKey) and the log tarball with the attempt's
 * metadata; a failure fails an otherwise successful attempt with STAGE_OUT_FAILED.
 */
async function stageOutLogs(
  job: ClaimedJob,
  logFile: string,
  archiveFile: string,
  ctx: RunJobContext,
  facts: AttemptFacts,
  report: CompleteRequest,
  logger: Logger,
): Promise<void> {
  const failed = (what: string, error: unknown): void => {
    logger.error(`${what} failed`, { error });
    if (report.pilotErrorCode !== PILOT_ERROR_CODES.OK) return;
    report.pilotErrorCode = PILOT_ERROR_CODES.STAGE_OUT_FAILED;
    report.errorMessage = `stage-out of the ${what} failed: ${(error as Error).message}`.slice(
      0,
      ERROR_MESSAGE_MAX,
    );
  };
  const hasLog = await stat(logFile).then(
    (s) => s.isFile(),
    () => false,
  );
  if (hasLog) {
    const key = `${job.outputPrefix}${PAYLOAD_LOG_NAME}`;
    try {
      const sum = await adler32File(logFile);
      facts.payloadLog = sum;
      await ctx.storage.uploadFile(key, logFile, 'text/plain; charset=utf-8', { adler32: sum.adler32 });
      report.logKey = key;
    } catch (error) {
      failed('payload log', error);
    }
  }
  const dir = jobDirName(job);
  const archiveKey = `${job.outputPrefix}${LOG_ARCHIVE_NAME}`;
  try {
    await writeLogArchive(archiveFile, [
      ...(hasLog ? [{ name: `${dir}/${PAYLOAD_LOG_NAME}`, path: logFile }] : []),
      {
        name: `${dir}/metadata.json`,
        content: `${JSON.stringify(attemptMetadata(job, ctx, facts, report), null, 2)}\n`,
      },
    ]);
    const { adler32, bytes } = await adler32File(archiveFile);
    await ctx.storage.uploadFile(archiveKey, archiveFile, 'application/gzip', { adler32 });
    logger.info('log tarball uploaded', { key: archiveKey, bytes, adler32 });
    report.logArchive = { name: LOG_ARCHIVE_NAME, key: archiveKey, bytes, adler32 };
  } catch (error) {
    failed('log tarball', error);
  }
}

/** The attempt as the pilot saw it, for metadata.json in the log tarball. */
function attemptMetadata(
  job: ClaimedJob,
  ctx: RunJobContext,
  facts: AttemptFacts,
  report: CompleteRequest,
): Record<string, unknown> {
  const code = report.pilotErrorCode as PilotErrorCode;
  return {
    taskId: job.taskId,
    jobId: job.jobId,
    jobIndex: job.jobIndex,
    attempt: job.attempt,
    pilotId: ctx.pilotId,
    siteId: ctx.siteId,
    host: ctx.host,
    pilotVersion: PILOT_VERSION,
    startedAt: facts.startedAt,
    endedAt: new Date().toISOString(),
    command: facts.command,
    args: facts.args,
    resources: job.resources,
    inputs: facts.inputs?.downloads.map((d) => ({
      name: d.name,
      localName: d.localName,
      adler32: d.adler32,
    })),
    exitCode: report.exitCode,
    signal: report.signal,
    pilotErrorCode: code,
    pilotErrorName: ERROR_NAMES.get(code),
    pilotErrorDescription: PILOT_ERROR_DESCRIPTIONS[code],
    errorMessage: report.errorMessage,
    usage: report.usage,
    outputs: report.outputs,
    payloadLog: facts.payloadLog,
  };
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
