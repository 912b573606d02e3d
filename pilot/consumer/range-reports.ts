/**
 * A consumer's range reports, batched: sent when 100 wait or 1 s after the oldest came, one batch
 * in flight at a time (so a range's `running` never overtakes its end). A batch that could not be
 * sent goes back to the front, for the next flush.
 */
import type { RangeReport, ReportRangesResponse } from '#core/api/event-ranges.ts';

interface Waiting {
  report: RangeReport;
  /** Called once the API answered for it. */
  onReported?: () => void;
}

export interface RangeReportsOptions {
  send(ranges: RangeReport[], signal?: AbortSignal): Promise<ReportRangesResponse>;
  /** Every answer, after the reports it answers were marked reported. */
  onAnswer(answer: ReportRangesResponse, sent: RangeReport[]): Promise<void>;
  onError(error: unknown): void;
  /** Send at once when this many wait (default 100). */
  atRanges?: number;
  /** Send this long after the oldest waiting report came (default 1000 ms). */
  afterMs?: number;
}

export class RangeReports {
  private readonly options: RangeReportsOptions;
  private readonly atRanges: number;
  private readonly afterMs: number;
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** API calls made (batches and polls). */
  calls = 0;

  constructor(options: RangeReportsOptions) {
    this.options = options;
    this.atRanges = options.atRanges ?? 100;
    this.afterMs = options.afterMs ?? 1000;
  }

  add(report: RangeReport, onReported?: () => void): void {
    this.waiting.push({ report, ...(onReported === undefined ? {} : { onReported }) });
    if (this.waiting.length >= this.atRanges) void this.flush();
    else this.flushLater();
  }

  private flushLater(): void {
    if (this.closed) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.afterMs);
  }

  get size(): number {
    return this.waiting.length;
  }

  /**
   * Sends what waits, after any flush in flight. With `poll` and nothing waiting, sends an empty
   * report (how many ranges remain). The last answer; undefined when nothing was sent or a send failed.
   */
  flush(options: { poll?: boolean; signal?: AbortSignal } = {}): Promise<ReportRangesResponse | undefined> {
    const next = this.chain.then(() => this.sendAll(options.poll ?? false, options.signal));
    this.chain = next.catch(() => {});
    return next;
  }

  /** No more timed flushes (the consumer's last flush is its own). */
  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async sendAll(poll: boolean, signal?: AbortSignal): Promise<ReportRangesResponse | undefined> {
    this.clearTimer();
    let answer: ReportRangesResponse | undefined;
    if (this.waiting.length === 0 && !poll) return undefined;
    do {
      const batch = this.waiting.splice(0, this.atRanges);
      const sent = batch.map((w) => w.report);
      try {
        this.calls++;
        answer = await this.options.send(sent, signal);
      } catch (error) {
        this.waiting.unshift(...batch);
        this.options.onError(error);
        // Tried again later, unless the consumer flushes before.
        this.flushLater();
        return undefined;
      }
      for (const w of batch) w.onReported?.();
      await this.options.onAnswer(answer, sent);
    } while (this.waiting.length > 0);
    return answer;
  }
}
