/**
 * One claimed job attempt, from work directory to completion report: prepare the work directory,
 * stage in the sandbox, run the payload, stage out the log and the declared outputs. Never
 * throws for the job's own failures: every outcome becomes a CompleteRequest with a pilot error code.
 */
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClaimedJob, CompleteRequest } from '#core/api.ts';
import type { OutputFile, Usage } from '#core/model/job.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/model/pilot-error-codes.ts';
import { resolvePayload } from '#core/payload/substitute.ts';
import { adler32File } from './adler32.ts';
import type { Logger } from './logger.ts';
import { runPayload } from './payload-runner.ts';
import type { S3Storage } from './s3-storage.ts';

export interface RunJobContext {
  storage: S3Storage;
  /** Parent of the jobs' work directories. */
  workRoot: string;
  host: string;
  killGraceMs: number;
  logCapBytes: number;
  pollMs?: number;
  logger: Logger;
  /** Aborting ends the payload; a pilot error code as the reason is reported (default EVICTED). */
  signal: AbortSignal;
  /** Called with the payload's process id (its process group) once it runs. */
  onSpawn?: (pid: number) => void;
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

export async function runJob(job: ClaimedJob, ctx: RunJobContext): Promise<CompleteRequest> {
  const name = jobDirName(job);
  const workDir = join(ctx.workRoot, name);
  const logFile = join(ctx.workRoot, `${name}.log`);
  const logger = ctx.logger.child({ taskId: job.taskId, jobId: job.jobId, attempt: job.attempt });
  const report: CompleteRequest = {
    taskId: job.taskId,
    jobIndex: job.jobIndex,
    attempt: job.attempt,
    pilotErrorCode: PILOT_ERROR_CODES.OK,
    usage: ZERO_USAGE,
    outputs: [],
    host: ctx.host,
  };
  const fail = (code: PilotErrorCode, message: string): CompleteRequest => {
    report.pilotErrorCode = code;
    report.errorMessage = message.slice(0, ERROR_MESSAGE_MAX);
    return report;
  };

  try {
    try {
      await rm(workDir, { recursive: true, force: true });
      await rm(logFile, { force: true });
      await mkdir(workDir, { recursive: true });
    } catch (error) {
      return fail(PILOT_ERROR_CODES.WORKDIR_FAILED, `cannot prepare ${workDir}: ${(error as Error).message}`);
    }

    try {
      for (const file of ctx.signal.aborted ? [] : job.payload.sandbox) {
        if (!isPlainName(file.name))
          throw new Error(`sandbox file name ${JSON.stringify(file.name)} is not a plain name`);
        const target = join(workDir, file.name);
        await ctx.storage.downloadFile(file.key, target, { sha256: file.sha256, bytes: file.bytes });
        await chmod(target, 0o755);
      }
    } catch (error) {
      return fail(PILOT_ERROR_CODES.STAGE_IN_FAILED, `stage-in failed: ${(error as Error).message}`);
    }

    const resolved = resolvePayload(job.payload, {
      taskId: job.taskId,
      jobId: job.jobId,
      attempt: job.attempt,
      workDir,
      jobIndex: job.jobIndex,
      ...(job.firstEvent === undefined ? {} : { firstEvent: job.firstEvent }),
      ...(job.nEvents === undefined ? {} : { nEvents: job.nEvents }),
      ...(job.inputFiles === undefined ? {} : { inputFiles: job.inputFiles }),
    });
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
    if (result.exitCode !== undefined) report.exitCode = result.exitCode;
    if (result.signal !== undefined) report.signal = result.signal;
    if (result.errorMessage !== undefined)
      report.errorMessage = result.errorMessage.slice(0, ERROR_MESSAGE_MAX);

    if (result.pilotErrorCode === PILOT_ERROR_CODES.OK) {
      const outputs = await stageOutOutputs(job, workDir, ctx, report);
      if (outputs !== undefined) report.outputs = outputs;
    }
    await stageOutLog(job, logFile, ctx, report, logger);
    return report;
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    await rm(logFile, { force: true }).catch(() => {});
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
      await ctx.storage.uploadFile(key, path);
      outputs.push({ name, key, bytes, adler32 });
    }
  } catch (error) {
    report.pilotErrorCode = PILOT_ERROR_CODES.STAGE_OUT_FAILED;
    report.errorMessage = `stage-out failed: ${(error as Error).message}`.slice(0, ERROR_MESSAGE_MAX);
    return undefined;
  }
  return outputs;
}

/** Uploads the payload log; a failure fails an otherwise successful attempt. */
async function stageOutLog(
  job: ClaimedJob,
  logFile: string,
  ctx: RunJobContext,
  report: CompleteRequest,
  logger: Logger,
): Promise<void> {
  const exists = await stat(logFile).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  const key = `${job.outputPrefix}payload.log`;
  try {
    await ctx.storage.uploadFile(key, logFile, 'text/plain; charset=utf-8');
    report.logKey = key;
  } catch (error) {
    logger.error('log upload failed', { error });
    if (report.pilotErrorCode === PILOT_ERROR_CODES.OK) {
      report.pilotErrorCode = PILOT_ERROR_CODES.STAGE_OUT_FAILED;
      report.errorMessage = `stage-out of the log failed: ${(error as Error).message}`.slice(
        0,
        ERROR_MESSAGE_MAX,
      );
    }
  }
}
