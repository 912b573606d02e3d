/**
 * What every claimed attempt goes through, whatever runs in it (one payload: run-job.ts; an
 * event-service consumer's ranges: consumer/run-consumer.ts): its work directory, the sandbox,
 * the report it becomes, and its one log object (the pilot's notes around the payload's output),
 * uploaded at the end. Never throws for the attempt's own failures.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ClaimedJob, ReportInput } from '#core/api/pilots.ts';
import type { Usage } from '#core/jobs/job.ts';
import {
  PILOT_ERROR_CODES,
  PILOT_ERROR_DESCRIPTIONS,
  type PilotErrorCode,
} from '#core/pilots/pilot-error-codes.ts';
import { ATTEMPT_LOG_NAME } from '#core/storage/object-keys.ts';
import { type PayloadContext, resolvePayload } from '#core/tasks/substitute.ts';
import type { Logger } from '#platform/logger.ts';
import { adler32File, adler32 as adler32Of } from './adler32.ts';
import type { PayloadResult, RunPayloadOptions } from './payload-runner.ts';
import type { S3Storage } from './s3-storage.ts';
import type { StageInPlan } from './stage-in.ts';
import { PILOT_VERSION } from './version.ts';

export interface AttemptContext {
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
  /** Called with the payload's process id (its process group) each time one runs. */
  onSpawn?: (pid: number) => void;
  /** Free space of the work area, to refuse inputs that cannot fit. */
  freeDiskMB?: () => Promise<number>;
}

/** What the pilot notes in the attempt's log around the payload's output. */
export interface AttemptFacts {
  startedAt: string;
  command?: string;
  args?: string[];
  inputs?: StageInPlan;
  /** More header lines (a consumer's mode and range queue). */
  notes?: string[];
  /** A file copied into the log right after the payload's output (a consumer's line per range). */
  appendix?: string;
}

/** One attempt in progress: where it runs, what it will report. */
export interface Attempt {
  job: ClaimedJob;
  ctx: AttemptContext;
  /** The payload's cwd and TMPDIR, made empty for the attempt. */
  workDir: string;
  /** The log being written: the pilot's header, then the payload's output (runPayload appends it). */
  logFile: string;
  logger: Logger;
  facts: AttemptFacts;
  report: ReportInput;
  fail(code: PilotErrorCode, message: string): void;
}

/** The name of one attempt's work directory: `<taskId>.<jobIndex>.a<attempt>`. */
export function jobDirName(job: { taskId: string; jobIndex: number; attempt: number }): string {
  return `${job.taskId}.${job.jobIndex}.a${job.attempt}`;
}

const PLAIN_NAME = /^[A-Za-z0-9._-]+$/;
export function isPlainName(name: string): boolean {
  return PLAIN_NAME.test(name) && name !== '.' && name !== '..';
}

export const ZERO_USAGE: Usage = { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 };
export const ERROR_MESSAGE_MAX = 4000;
const ERROR_NAMES = new Map<number, string>(
  Object.entries(PILOT_ERROR_CODES).map(([name, code]) => [code, name] as [number, string]),
);

/** Usage of payload processes run one after the other: times add up, the peak RSS is the largest. */
export function sumUsage(total: Usage, more: Usage): Usage {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    wallTimeSec: round(total.wallTimeSec + more.wallTimeSec),
    cpuTimeSec: round(total.cpuTimeSec + more.cpuTimeSec),
    maxRssKB: Math.max(total.maxRssKB, more.maxRssKB),
  };
}

/**
 * Prepares the work directory and stages the sandbox in, runs `body`, then stages the log out.
 * A work directory that cannot be made ends the attempt at once (WORKDIR_FAILED, no log); a
 * failed sandbox skips `body` (STAGE_IN_FAILED). Work directory and log file are removed at the end.
 */
export async function runAttempt(
  job: ClaimedJob,
  ctx: AttemptContext,
  body: (attempt: Attempt) => Promise<void>,
): Promise<ReportInput> {
  const name = jobDirName(job);
  const report: ReportInput = {
    taskId: job.taskId,
    jobIndex: job.jobIndex,
    attempt: job.attempt,
    pilotErrorCode: PILOT_ERROR_CODES.OK,
    usage: ZERO_USAGE,
    outputs: [],
    host: ctx.host,
  };
  const attempt: Attempt = {
    job,
    ctx,
    workDir: join(ctx.workRoot, name),
    logFile: join(ctx.workRoot, `${name}.log`),
    logger: ctx.logger.child({ taskId: job.taskId, jobId: job.jobId, attempt: job.attempt }),
    facts: { startedAt: new Date().toISOString() },
    report,
    fail: (code, message) => {
      report.pilotErrorCode = code;
      report.errorMessage = message.slice(0, ERROR_MESSAGE_MAX);
    },
  };
  const { workDir, logFile } = attempt;
  try {
    try {
      await rm(workDir, { recursive: true, force: true });
      await rm(logFile, { force: true });
      await mkdir(workDir, { recursive: true });
    } catch (error) {
      attempt.fail(
        PILOT_ERROR_CODES.WORKDIR_FAILED,
        `cannot prepare ${workDir}: ${(error as Error).message}`,
      );
      return report;
    }
    if (await stageInSandbox(attempt)) await body(attempt);
    await stageOutLog(attempt);
    return report;
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    await rm(logFile, { force: true }).catch(() => {});
    if (attempt.facts.appendix !== undefined)
      await rm(attempt.facts.appendix, { force: true }).catch(() => {});
  }
}

/** False (with the report failed as STAGE_IN_FAILED) when a sandbox file could not be had. */
async function stageInSandbox(attempt: Attempt): Promise<boolean> {
  const { job, ctx, workDir } = attempt;
  try {
    for (const file of ctx.signal.aborted ? [] : job.payload.sandbox) {
      if (!isPlainName(file.name))
        throw new Error(`sandbox file name ${JSON.stringify(file.name)} is not a plain name`);
      const target = join(workDir, file.name);
      await ctx.storage.downloadFile(file.key, target, { sha256: file.sha256, bytes: file.bytes });
      await chmod(target, 0o755);
    }
    return true;
  } catch (error) {
    attempt.fail(PILOT_ERROR_CODES.STAGE_IN_FAILED, `stage-in failed: ${(error as Error).message}`);
    return false;
  }
}

export function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Files up to this size are read whole for their checksum (one read instead of a stream's several). */
const WHOLE_READ_MAX = 1 << 20;

/**
 * Uploads an output file with its adler32 as object metadata; its adler32 and size, for the
 * report. A missing file throws with code ENOENT.
 */
export async function uploadOutput(
  storage: S3Storage,
  key: string,
  path: string,
): Promise<{ adler32: string; bytes: number }> {
  const { size } = await stat(path);
  const { adler32, bytes } =
    size <= WHOLE_READ_MAX
      ? await readFile(path).then((data) => ({ adler32: adler32Of(data), bytes: data.length }))
      : await adler32File(path);
  await storage.uploadFile(key, path, 'application/octet-stream', { adler32 });
  return { adler32, bytes };
}

/** The attempt's payload command line and environment, placeholders filled with the job's values and `values`. */
export function resolveAttemptPayload(
  attempt: Attempt,
  values: Pick<PayloadContext, 'firstEvent' | 'nEvents' | 'inputFiles' | 'rangeIndex'>,
): ReturnType<typeof resolvePayload> {
  const { job, workDir } = attempt;
  return resolvePayload(job.payload, {
    taskId: job.taskId,
    jobId: job.jobId,
    attempt: job.attempt,
    workDir,
    jobIndex: job.jobIndex,
    ...(values.firstEvent === undefined ? {} : { firstEvent: values.firstEvent }),
    ...(values.nEvents === undefined ? {} : { nEvents: values.nEvents }),
    ...(values.inputFiles === undefined ? {} : { inputFiles: values.inputFiles }),
    ...(values.rangeIndex === undefined ? {} : { rangeIndex: values.rangeIndex }),
  });
}

/** runPayload's options that the pilot decides: kill grace, log cap, looping, polls, abort, spawn observer. */
export function pilotPayloadOptions(
  attempt: Attempt,
): Pick<
  RunPayloadOptions,
  'logFile' | 'logCapBytes' | 'killGraceMs' | 'signal' | 'logCapAction' | 'loopingSec' | 'pollMs' | 'onSpawn'
> {
  const { ctx } = attempt;
  return {
    logFile: attempt.logFile,
    logCapBytes: ctx.logCapBytes,
    killGraceMs: ctx.killGraceMs,
    signal: ctx.signal,
    ...(ctx.logCapAction === undefined ? {} : { logCapAction: ctx.logCapAction }),
    ...(ctx.loopingSec === undefined ? {} : { loopingSec: ctx.loopingSec }),
    ...(ctx.pollMs === undefined ? {} : { pollMs: ctx.pollMs }),
    ...(ctx.onSpawn === undefined ? {} : { onSpawn: ctx.onSpawn }),
  };
}

const headerWritten = new WeakSet<Attempt>();

/** Writes the pilot's note before the payload's output (who runs what, where), once. */
export async function writeHeader(attempt: Attempt): Promise<void> {
  if (headerWritten.has(attempt)) return;
  headerWritten.add(attempt);
  await appendFile(attempt.logFile, headerLines(attempt)).catch(() => {});
}

function headerLines({ job, ctx, facts }: Attempt): string {
  const lines = [
    `# gluon-pilot ${PILOT_VERSION}: task ${job.taskId}, job ${job.jobIndex}, attempt ${job.attempt}`,
    `# pilot ${ctx.pilotId ?? '?'} at site ${ctx.siteId ?? '?'} on ${ctx.host}, claimed ${facts.startedAt}`,
    `# command: ${[facts.command, ...(facts.args ?? [])].map((a) => JSON.stringify(a)).join(' ')}`,
    ...(facts.inputs?.downloads.map(
      (d) => `# input: ${d.name} -> ${d.localName}${d.adler32 ? ` adler32 ${d.adler32}` : ''}`,
    ) ?? []),
    ...(facts.notes ?? []).map((note) => `# ${note}`),
    '# ---- payload output ----',
  ];
  return `${lines.join('\n')}\n`;
}

/** The pilot's note after it: how the attempt ended. */
function footerLines(report: ReportInput): string {
  const code = report.pilotErrorCode as PilotErrorCode;
  const lines = [
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
async function stageOutLog(attempt: Attempt): Promise<void> {
  const { job, ctx, logFile, facts, report } = attempt;
  try {
    await writeHeader(attempt);
    await appendFile(logFile, '# ---- end of payload output ----\n');
    if (facts.appendix !== undefined) {
      await pipeline(createReadStream(facts.appendix), createWriteStream(logFile, { flags: 'a' }));
    }
    await appendFile(logFile, footerLines(report));
    const { adler32, bytes } = await adler32File(logFile);
    await ctx.storage.uploadFile(job.logKey, logFile, 'text/plain; charset=utf-8', { adler32 });
    report.log = { name: ATTEMPT_LOG_NAME, key: job.logKey, bytes, adler32 };
  } catch (error) {
    attempt.logger.error('stage-out of the log failed', { error });
    if (report.pilotErrorCode !== PILOT_ERROR_CODES.OK) return;
    attempt.fail(
      PILOT_ERROR_CODES.STAGE_OUT_FAILED,
      `stage-out of the log failed: ${(error as Error).message}`,
    );
  }
}

const STOP_SIGNALS: ReadonlySet<string> = new Set(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL']);
const STOP_RACE_MS = 1500;

/**
 * A batch-system kill (plain `scancel`, node shutdown) signals the payload and the pilot at the
 * same moment; when the payload's death is seen first, this gives the pilot's own stop a moment to
 * arrive. True when the payload died of a stop signal and `signal` aborted by then: the end is an
 * eviction (system error), not the payload's failure.
 */
export async function evictedMeanwhile(result: PayloadResult, signal: AbortSignal): Promise<boolean> {
  return (
    result.pilotErrorCode === PILOT_ERROR_CODES.PAYLOAD_SIGNALLED &&
    result.signal !== undefined &&
    STOP_SIGNALS.has(result.signal) &&
    (await aborted(signal, STOP_RACE_MS))
  );
}

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
