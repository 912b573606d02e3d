/**
 * An event-service consumer: an ordinary claimed job whose claim carries `consumer`. It takes
 * messages of ranges from its task's range queue, runs each range (a process per range, or one
 * payload fed ranges: stream), uploads each range's output as soon as it is done, reports ranges
 * in batches and deletes a message once all its ranges are reported. It holds its messages' lease
 * while it works, and on any stop hands back what it did not do: the unstarted rest of a message
 * is sent again as a new message, a message never started is made visible at once. Never throws
 * for the job's own failures: it ends as the job's report, like runJob.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  Consumer,
  RangeReport,
  ReportRangesRequest,
  ReportRangesResponse,
} from '#core/api/event-ranges.ts';
import type { ClaimedJob, ReportInput } from '#core/api/pilots.ts';
import {
  type MessageRange,
  parseRangeMessage,
  type RangeMessage,
  type RangeParameters,
  rangeOfMessage,
} from '#core/event-ranges/event-range.ts';
import type { Usage } from '#core/jobs/job.ts';
import {
  PILOT_ERROR_CODES,
  PILOT_ERROR_DESCRIPTIONS,
  type PilotErrorCode,
} from '#core/pilots/pilot-error-codes.ts';
import { rangeOutputKey } from '#core/storage/object-keys.ts';
import type { Logger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';
import { logMalformedMessage } from '../malformed-message.ts';
import { abortCode } from '../payload-end.ts';
import type { PayloadResult } from '../payload-runner.ts';
import {
  type Attempt,
  type AttemptContext,
  runAttempt,
  sumUsage,
  uploadOutput,
  writeHeader,
  ZERO_USAGE,
} from '../run-attempt.ts';
import { planStageIn, stageIn } from '../stage-in.ts';
import { processPerRange } from './process-per-range.ts';
import type { RangeQueueClient, ReceivedRangeMessage } from './range-queue-client.ts';
import { RangeReports } from './range-reports.ts';
import type { RangeInput, RangeRunner, RangeRunnerContext } from './range-runner.ts';
import { StreamPayload } from './stream-payload.ts';

export interface ConsumerContext extends AttemptContext {
  pilotId: string;
  /** The task's range queue (job.consumer.rangeQueueUrl). */
  queue: RangeQueueClient;
  /** Sends one batch of range reports (the pilot's API call, with its retries); aborting gives up. */
  reportRanges(body: ReportRangesRequest, signal?: AbortSignal): Promise<ReportRangesResponse>;
  /** What is left of the pilot's life, in seconds. */
  walltimeLeftSec(): number;
}

/** How the consumer paces itself. */
const PACE = {
  /** A receive's long poll: short, so a consumer that found nothing asks how many ranges remain soon. */
  receiveWaitSec: 2,
  /** Pause after a malformed message or a failed receive, so neither is a hot loop. */
  pauseMs: 1000,
  /** Uploads in flight at once; the next range waits for one to end. */
  maxUploads: 8,
  /** After the pilot's abort, what is done is reported within this long. */
  stopFlushMs: 5000,
  /** Consecutive failed report batches (each already retried by the client) that stop the consumer. */
  maxReportFailures: 3,
  /**
   * Walltime kept for one more range: this many times the longest range seen, and at least
   * minRangeMarginSec (a quarter of the job's walltime when that is less).
   */
  rangeMarginFactor: 3,
  minRangeMarginSec: 30,
  /** Without any message for the lease plus this, while ranges remain elsewhere, the consumer stops. */
  idleMarginSec: 10,
} as const;
/** Where the consumer keeps its own files in the work directory (pipes, range outputs). */
const PILOT_DIR = '.gluon';

type RangeStatus = 'waiting' | 'running' | 'done' | 'reported';

interface HeldMessage {
  messageId: string;
  receiptHandle: string;
  body: RangeMessage;
  works: RangeWork[];
}

interface RangeWork {
  message: HeldMessage;
  /** As in the message (sent again unchanged when handed back). */
  range: MessageRange;
  params: RangeParameters & { attempt: number };
  status: RangeStatus;
  startedAt?: number;
  runningReported?: boolean;
}

interface Stop {
  code: PilotErrorCode;
  message?: string;
}

export async function runConsumer(job: ClaimedJob, ctx: ConsumerContext): Promise<ReportInput> {
  const consumer = job.consumer;
  if (consumer === undefined) throw new TypeError(`job ${job.jobId} is not an event-service consumer`);
  return runAttempt(job, ctx, (attempt) => new RangeConsumer(attempt, ctx, consumer).run());
}

class RangeConsumer {
  private readonly attempt: Attempt;
  private readonly ctx: ConsumerContext;
  private readonly consumer: Consumer;
  private readonly logger: Logger;
  private readonly startedAt = Date.now();
  private readonly outDir: string;
  private readonly held = new Map<string, HeldMessage>();
  private waiting: RangeWork[] = [];
  private inFlight: RangeWork | undefined;
  private readonly uploads = new Set<Promise<void>>();
  private readonly reports: RangeReports;
  private readonly rangeLog: RangeLog;
  /** Ends waits (receive, pauses) when the consumer stops. */
  private readonly stopping = new AbortController();
  /** Ends the running payload: the pilot's abort, or the consumer's own (cancel). */
  private readonly killer = new AbortController();
  private readonly payloadSignal: AbortSignal;
  private readonly waitSignal: AbortSignal;
  private runner: RangeRunner | undefined;
  private stop: Stop | undefined;
  private usage: Usage = ZERO_USAGE;
  private headerBytes = 0;
  private lastMessageAt = Date.now();
  private longestRangeMs = 0;
  private failuresInARow = 0;
  private reportFailures = 0;
  /** The lease extension in flight, if any. */
  private extension: Promise<void> | undefined;
  /** Set before the hand-back: no extension may land after it. */
  private leasesClosed = false;
  private input: (RangeInput & { downloaded: boolean }) | undefined;
  private readonly counts = { finished: 0, failed: 0, handedBack: 0 };

  constructor(attempt: Attempt, ctx: ConsumerContext, consumer: Consumer) {
    this.attempt = attempt;
    this.ctx = ctx;
    this.consumer = consumer;
    this.logger = attempt.logger;
    this.outDir = join(attempt.workDir, PILOT_DIR, 'out');
    this.payloadSignal = AbortSignal.any([ctx.signal, this.killer.signal]);
    this.waitSignal = AbortSignal.any([ctx.signal, this.stopping.signal]);
    attempt.facts.appendix = `${attempt.logFile}.ranges`;
    this.rangeLog = new RangeLog(attempt.facts.appendix, ctx.logCapBytes);
    this.reports = new RangeReports({
      send: (ranges, signal) =>
        ctx.reportRanges(
          {
            taskId: attempt.job.taskId,
            jobIndex: attempt.job.jobIndex,
            attempt: attempt.job.attempt,
            ranges,
          },
          signal,
        ),
      onAnswer: (answer, sent) => this.onReportAnswer(answer, sent),
      onError: (error) => this.onReportError(error),
    });
  }

  async run(): Promise<void> {
    const { attempt, consumer } = this;
    const { job } = attempt;
    attempt.facts.command = job.payload.command;
    attempt.facts.args = job.payload.args;
    attempt.facts.notes = [
      `event-service consumer, mode ${consumer.mode}: ranges from ${consumer.rangeQueueUrl}`,
      `range lease ${consumer.rangeLeaseSec} s, ${consumer.maxRangeAttempts} attempts a range, stop after ${consumer.stopAfterFailures} failures in a row, output ${consumer.output}`,
    ];
    await writeHeader(attempt);
    this.headerBytes = await fileSize(attempt.logFile);
    const lease = setInterval(() => this.extendLeases(), this.leaseEveryMs());
    try {
      await mkdir(this.outDir, { recursive: true });
      const runnerCtx: RangeRunnerContext = {
        attempt,
        signal: this.payloadSignal,
        walltimeSec: () => Math.max(1, Math.floor(this.walltimeLeftSec())),
        logRoom: () => this.logRoom(),
        onProcessEnd: (result) => this.onProcessEnd(result),
      };
      this.runner =
        consumer.mode === 'stream'
          ? new StreamPayload(runnerCtx, join(attempt.workDir, PILOT_DIR))
          : processPerRange(runnerCtx, consumer.output);
      await this.consume();
    } catch (error) {
      this.logger.error('the consumer failed', { error });
      this.stopWith(PILOT_ERROR_CODES.CONSUMER_STOPPED, `the consumer failed: ${(error as Error).message}`);
    } finally {
      await this.windDown().catch((error: unknown) => this.logger.error('winding down failed', { error }));
      clearInterval(lease);
      this.rangeLog.note(
        `${this.counts.finished} ranges finished, ${this.counts.failed} failed, ${this.counts.handedBack} handed back; ${this.reports.calls} report calls`,
      );
      await this.rangeLog.close();
    }
    attempt.report.usage = this.usage;
    const stop = this.stop ?? { code: PILOT_ERROR_CODES.OK };
    if (stop.code !== PILOT_ERROR_CODES.OK) attempt.fail(stop.code, stop.message ?? 'the consumer stopped');
    this.logger.info('consumer ended', {
      pilotErrorCode: stop.code,
      ...this.counts,
      reportCalls: this.reports.calls,
    });
  }

  // ---- the loop -----------------------------------------------------------------------------

  private async consume(): Promise<void> {
    while (this.stop === undefined) {
      if (this.ctx.signal.aborted) {
        const code = abortCode(this.ctx.signal.reason);
        this.stopWith(code, `the pilot ended the consumer: ${PILOT_ERROR_DESCRIPTIONS[code]}`);
        break;
      }
      const leftSec = this.walltimeLeftSec();
      // A job shorter than the minimum margin still gets to run ranges (else it would be replaced forever).
      const minSec = Math.min(PACE.minRangeMarginSec, this.attempt.job.resources.walltimeSec / 4);
      const marginSec = Math.max(minSec, (PACE.rangeMarginFactor * this.longestRangeMs) / 1000);
      if (leftSec < marginSec) {
        this.stopWith(
          PILOT_ERROR_CODES.CONSUMER_STOPPED,
          `walltime running short: ${Math.floor(leftSec)} s left, ${Math.ceil(marginSec)} s needed for another range`,
        );
        break;
      }
      const work = this.nextWork();
      if (work === undefined) await this.fetch();
      else await this.runRange(work);
    }
  }

  private nextWork(): RangeWork | undefined {
    for (;;) {
      const work = this.waiting.shift();
      if (work === undefined || work.status === 'waiting') return work;
    }
  }

  /** Receives messages; with none, reports what is done and asks how many ranges remain. */
  private async fetch(): Promise<void> {
    let messages: ReceivedRangeMessage[];
    try {
      messages = await this.ctx.queue.receive(10, PACE.receiveWaitSec, this.waitSignal);
    } catch (error) {
      this.logger.warn('receive from the range queue failed', { error });
      await sleep(PACE.pauseMs, this.waitSignal);
      return;
    }
    if (messages.length > 0) {
      this.lastMessageAt = Date.now();
      await this.accept(messages);
      return;
    }
    if (this.stop !== undefined || this.ctx.signal.aborted) return;
    // Our own ranges count as remaining until reported.
    await Promise.all(this.uploads);
    const answer = await this.reports.flush({ poll: true, signal: this.waitSignal });
    if (answer === undefined || this.stop !== undefined) return;
    if (answer.remaining === 0) {
      this.stopWith(PILOT_ERROR_CODES.OK);
      return;
    }
    const idleSec = (Date.now() - this.lastMessageAt) / 1000;
    if (idleSec > this.consumer.rangeLeaseSec + PACE.idleMarginSec) {
      this.stopWith(
        PILOT_ERROR_CODES.CONSUMER_STOPPED,
        `no range came for ${Math.round(idleSec)} s while ${answer.remaining} remain (in flight elsewhere, or retries on their way)`,
      );
    }
  }

  private async accept(messages: ReceivedRangeMessage[]): Promise<void> {
    const malformed: string[] = [];
    for (const message of messages) {
      let body: RangeMessage;
      try {
        body = parseRangeMessage(message.body);
        if (body.taskId !== this.attempt.job.taskId) throw new Error(`a message of task ${body.taskId}`);
      } catch (error) {
        logMalformedMessage(this.logger, 'range', message, error);
        this.rangeLog.note(
          `malformed message ${message.messageId} (received ${message.receiveCount} times) left`,
        );
        malformed.push(message.receiptHandle);
        continue;
      }
      const known = this.held.get(message.messageId);
      if (known !== undefined) {
        // Delivered again while held (a lease that lapsed): only the newest handle works.
        known.receiptHandle = message.receiptHandle;
        continue;
      }
      const held: HeldMessage = {
        messageId: message.messageId,
        receiptHandle: message.receiptHandle,
        body,
        works: [],
      };
      held.works = body.ranges.map((range) => ({
        message: held,
        range,
        params: rangeOfMessage(range),
        status: 'waiting',
      }));
      this.held.set(held.messageId, held);
      if (message.receiveCount > this.consumer.maxRangeAttempts + 2) {
        // Its consumers vanished that often (each receive a lost lease): the ranges are not run again here.
        for (const work of held.works) {
          this.failRange(
            work,
            PILOT_ERROR_CODES.PILOT_LOST,
            `its message was received ${message.receiveCount} times: its consumers vanished`,
            0,
            false,
          );
        }
      } else this.waiting.push(...held.works);
    }
    if (malformed.length > 0) {
      await this.ctx.queue
        .changeVisibility(malformed, 0)
        .catch((error: unknown) => this.logger.warn('could not hand back malformed messages', { error }));
      await sleep(PACE.pauseMs, this.waitSignal);
    }
  }

  // ---- one range ----------------------------------------------------------------------------

  private async runRange(work: RangeWork): Promise<void> {
    while (this.uploads.size >= PACE.maxUploads) await Promise.race(this.uploads);
    const runner = this.runner as RangeRunner;
    work.status = 'running';
    work.startedAt = Date.now();
    this.inFlight = work;
    try {
      let input: RangeInput | undefined;
      if (work.params.file !== undefined) {
        try {
          input = await this.inputOf(work.params.file);
        } catch (error) {
          this.failRange(
            work,
            PILOT_ERROR_CODES.STAGE_IN_FAILED,
            `stage-in of ${work.params.file} failed: ${(error as Error).message}`,
            Date.now() - work.startedAt,
          );
          return;
        }
      }
      const output = join(this.outDir, `${work.params.rangeIndex}.${this.consumer.output}`);
      const outcome = await runner.run({
        range: work.params,
        output,
        ...(input === undefined ? {} : { input }),
      });
      const wallMs = Date.now() - work.startedAt;
      if (!outcome.ok && 'stopped' in outcome) {
        // Ended by the pilot before its end: not done, so handed back with the unstarted ones.
        work.status = 'waiting';
        this.rangeLog.range(work, 'stopped by the pilot before its end', wallMs);
        return;
      }
      this.longestRangeMs = Math.max(this.longestRangeMs, wallMs);
      if (outcome.ok) {
        this.failuresInARow = 0;
        work.status = 'done';
        this.startUpload(work, output, wallMs);
      } else this.failRange(work, outcome.code, outcome.error, wallMs);
    } finally {
      this.inFlight = undefined;
    }
  }

  /** The range's input file, staged in once and kept for the next ranges of the same file. */
  private async inputOf(file: string): Promise<RangeInput> {
    if (this.input?.name === file) return this.input;
    if (this.input?.downloaded) await rm(this.input.path, { force: true });
    this.input = undefined;
    const { job, ctx, workDir } = this.attempt;
    const info = job.inputs?.find((i) => i.name === file) ?? { name: file };
    const plan = planStageIn({ inputs: [info] }, ctx.storage.bucket);
    await stageIn(plan, workDir, ctx.storage, {
      signal: ctx.signal,
      ...(ctx.freeDiskMB === undefined ? {} : { freeDiskMB: ctx.freeDiskMB }),
    });
    const download = plan.downloads[0];
    const payloadName = plan.payloadNames[0] ?? file;
    this.input = {
      name: file,
      payloadName,
      path: download === undefined ? file : join(workDir, download.localName),
      downloaded: download !== undefined,
    };
    if (download !== undefined) {
      this.rangeLog.note(
        `input ${file} -> ${download.localName}${download.adler32 ? ` adler32 ${download.adler32}` : ''}`,
      );
    }
    return this.input;
  }

  private startUpload(work: RangeWork, path: string, wallMs: number): void {
    const { job, ctx } = this.attempt;
    const key = rangeOutputKey(
      job.taskId,
      work.params.rangeIndex,
      this.ctx.pilotId,
      work.params.attempt,
      this.consumer.output,
    );
    const upload = (async () => {
      try {
        const { adler32, bytes } = await uploadOutput(ctx.storage, key, path);
        this.counts.finished++;
        this.rangeLog.range(work, 'finished', wallMs);
        this.reports.add(
          rangeReport(work, 'finished', { output: { key, bytes, adler32 }, wallTimeSec: wallMs / 1000 }),
          () => {
            work.status = 'reported';
          },
        );
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          this.failRange(
            work,
            PILOT_ERROR_CODES.OUTPUT_MISSING,
            `the payload did not write ${this.consumer.output}`,
            wallMs,
          );
        } else {
          this.failRange(
            work,
            PILOT_ERROR_CODES.STAGE_OUT_FAILED,
            `upload of the range's output failed: ${(error as Error).message}`,
            wallMs,
          );
        }
      } finally {
        await unlink(path).catch(() => {});
      }
    })();
    this.uploads.add(upload);
    void upload.finally(() => this.uploads.delete(upload));
  }

  /** Reports a range failed; `counts`: a failure of the payload's, towards stopAfterFailures. */
  private failRange(
    work: RangeWork,
    code: PilotErrorCode,
    error: string,
    wallMs: number,
    counts = true,
  ): void {
    work.status = 'done';
    this.counts.failed++;
    this.rangeLog.range(work, `failed (${code}): ${error.split('\n')[0]}`, wallMs);
    this.reports.add(
      rangeReport(work, 'failed', {
        errorCode: code,
        error: error.slice(0, 2000),
        wallTimeSec: wallMs / 1000,
      }),
      () => {
        work.status = 'reported';
      },
    );
    if (!counts) return;
    this.failuresInARow++;
    if (this.failuresInARow >= this.consumer.stopAfterFailures) {
      this.stopWith(
        PILOT_ERROR_CODES.RANGES_FAILING,
        `the payload failed on ${this.failuresInARow} ranges in a row; the last, range ${work.params.rangeIndex}: ${error}`,
      );
    }
  }

  private onProcessEnd(result: PayloadResult): void {
    this.usage = sumUsage(this.usage, result.usage);
    if (this.consumer.mode !== 'stream') return;
    this.rangeLog.note(
      `payload process ended: ${result.pilotErrorCode}${result.exitCode === undefined ? '' : `, exit code ${result.exitCode}`}${result.signal === undefined ? '' : `, signal ${result.signal}`}, cpu ${result.usage.cpuTimeSec} s`,
    );
  }

  // ---- reports, leases and stops ------------------------------------------------------------

  private async onReportAnswer(answer: ReportRangesResponse, sent: RangeReport[]): Promise<void> {
    this.reportFailures = 0;
    const stale = answer.outcomes.filter((o) => o.outcome === 'stale');
    if (stale.length > 0) {
      this.logger.warn('range reports refused as stale', {
        ranges: stale.map((o) => o.rangeIndex).slice(0, 20),
        sent: sent.length,
      });
    }
    if (answer.cancelled) this.stopWith(PILOT_ERROR_CODES.CANCELLED, 'the task was cancelled');
    await this.deleteReported();
  }

  private onReportError(error: unknown): void {
    this.reportFailures++;
    this.logger.warn('range report failed', { error, failuresInARow: this.reportFailures });
    if (this.reportFailures >= PACE.maxReportFailures) {
      this.stopWith(
        PILOT_ERROR_CODES.CONSUMER_STOPPED,
        `range reports failed ${this.reportFailures} times in a row: ${(error as Error).message}`,
      );
    }
  }

  /** Deletes the held messages whose ranges are all reported. */
  private async deleteReported(): Promise<void> {
    const done = [...this.held.values()].filter((m) => m.works.every((w) => w.status === 'reported'));
    if (done.length === 0) return;
    for (const message of done) this.held.delete(message.messageId);
    try {
      await this.ctx.queue.delete(done.map((m) => m.receiptHandle));
    } catch (error) {
      // Messages that come back are run again; their reports are then duplicates or stale.
      this.logger.warn('could not delete range messages', { error, messages: done.length });
    }
  }

  private leaseEveryMs(): number {
    return Math.max(500, (this.consumer.rangeLeaseSec * 1000) / 3);
  }

  /**
   * Extends the lease of every held message, and reports the range in flight `running` when it
   * has run for a whole extension period: only long ranges show as running, short ones go
   * straight to their end (one write a range).
   */
  private extendLeases(): void {
    if (this.leasesClosed || this.extension !== undefined || this.held.size === 0) return;
    const handles = [...this.held.values()].map((m) => m.receiptHandle);
    this.extension = this.ctx.queue
      .changeVisibility(handles, this.consumer.rangeLeaseSec)
      .then(() => {
        const work = this.inFlight;
        if (
          work !== undefined &&
          !work.runningReported &&
          Date.now() - (work.startedAt ?? Date.now()) >= this.leaseEveryMs()
        ) {
          work.runningReported = true;
          this.reports.add(rangeReport(work, 'running', {}));
        }
      })
      .catch((error: unknown) => this.logger.warn('could not extend the lease of range messages', { error }))
      .finally(() => {
        this.extension = undefined;
      });
  }

  private stopWith(code: PilotErrorCode, message?: string): void {
    if (this.stop !== undefined) return;
    this.stop = { code, ...(message === undefined ? {} : { message }) };
    if (code === PILOT_ERROR_CODES.CANCELLED) this.killer.abort(code);
    this.stopping.abort();
  }

  /**
   * Ends the payload (killed when the pilot aborts or the task is cancelled), reports what is
   * done (within PACE.stopFlushMs after an abort), then hands back the rest.
   */
  private async windDown(): Promise<void> {
    const kill = this.payloadSignal.aborted;
    await this.runner?.close(kill);
    const bound = kill ? AbortSignal.timeout(PACE.stopFlushMs) : undefined;
    await Promise.race([Promise.all(this.uploads), ...(bound === undefined ? [] : [untilAborted(bound)])]);
    this.reports.close();
    await this.reports.flush(bound === undefined ? {} : { signal: bound });
    await this.handBack();
    if (this.input?.downloaded) await rm(this.input.path, { force: true }).catch(() => {});
  }

  /**
   * Every range not reported goes back to the queue: a message none of whose ranges is reported is
   * made visible at once; the rest of a partly reported one is sent again as a new message (same
   * ranges, same attempts) and the old one deleted.
   */
  private async handBack(): Promise<void> {
    const { queue } = this.ctx;
    // An extension landing after a message was made visible would hide it again for a whole lease.
    this.leasesClosed = true;
    await this.extension;
    const visible: HeldMessage[] = [];
    const deleted: HeldMessage[] = [];
    for (const message of this.held.values()) {
      const rest = message.works.filter((w) => w.status !== 'reported');
      this.counts.handedBack += rest.length;
      if (rest.length === 0) deleted.push(message);
      else if (rest.length === message.works.length) visible.push(message);
      else {
        const body: RangeMessage = { ...message.body, ranges: rest.map((w) => w.range) };
        try {
          await queue.send(JSON.stringify(body));
          deleted.push(message);
        } catch (error) {
          this.logger.warn('could not send the rest of a range message; handing it back whole', { error });
          visible.push(message);
        }
      }
    }
    this.held.clear();
    if (deleted.length > 0) {
      await queue
        .delete(deleted.map((m) => m.receiptHandle))
        .catch((error: unknown) => this.logger.warn('could not delete range messages', { error }));
    }
    if (visible.length > 0) {
      await queue
        .changeVisibility(
          visible.map((m) => m.receiptHandle),
          0,
        )
        .catch((error: unknown) => this.logger.warn('could not hand back range messages', { error }));
    }
    if (this.counts.handedBack > 0) {
      this.rangeLog.note(
        `handed back ${this.counts.handedBack} ranges: ${visible.length} messages made visible, ${deleted.length} deleted (their rest sent again)`,
      );
    }
  }

  // ---- time and room ------------------------------------------------------------------------

  /** The pilot's walltime left, or the job's own, whichever ends first. */
  private walltimeLeftSec(): number {
    const jobLeftSec = this.attempt.job.resources.walltimeSec - (Date.now() - this.startedAt) / 1000;
    return Math.min(this.ctx.walltimeLeftSec(), jobLeftSec);
  }

  /** The payload output the attempt log may still take: its cap spans every payload process. */
  private async logRoom(): Promise<number> {
    const written = (await fileSize(this.attempt.logFile)) - this.headerBytes;
    return Math.max(0, this.ctx.logCapBytes - written);
  }
}

function rangeReport(
  work: RangeWork,
  state: RangeReport['state'],
  extra: Pick<RangeReport, 'output' | 'errorCode' | 'error' | 'wallTimeSec'>,
): RangeReport {
  const { params } = work;
  return {
    rangeIndex: params.rangeIndex,
    attempt: params.attempt,
    state,
    firstEvent: params.firstEvent,
    nEvents: params.nEvents,
    ...(params.file === undefined ? {} : { file: params.file }),
    ...extra,
    ...(extra.wallTimeSec === undefined ? {} : { wallTimeSec: Math.round(extra.wallTimeSec * 1000) / 1000 }),
  };
}

async function fileSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * The consumer's line per range (and its notes), copied into the attempt log after the payload's
 * output; past the log cap, lines are counted, not kept.
 */
class RangeLog {
  private readonly stream: WriteStream;
  private readonly capBytes: number;
  private bytes = 0;
  private dropped = 0;

  constructor(path: string, capBytes: number) {
    this.capBytes = capBytes;
    this.stream = createWriteStream(path, { flags: 'w' });
    // Errors surface in close(); the log must not take the consumer down.
    this.stream.on('error', () => {});
    this.note('---- ranges ----');
  }

  range(work: RangeWork, what: string, wallMs: number): void {
    const { params } = work;
    const last = params.firstEvent + params.nEvents - 1;
    this.note(
      `range ${params.rangeIndex} (events ${params.firstEvent}-${last}${params.file === undefined ? '' : ` of ${params.file}`}, attempt ${params.attempt}): ${what} in ${(wallMs / 1000).toFixed(3)} s`,
    );
  }

  note(text: string): void {
    const line = `# ${text}\n`;
    if (this.bytes + line.length > this.capBytes) {
      this.dropped++;
      return;
    }
    this.bytes += line.length;
    this.stream.write(line);
  }

  close(): Promise<void> {
    if (this.dropped > 0) this.stream.write(`# ... ${this.dropped} more lines dropped (log cap)\n`);
    return new Promise((resolve) => {
      this.stream.end(() => resolve());
    });
  }
}
