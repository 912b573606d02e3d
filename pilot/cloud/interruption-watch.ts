/**
 * Watches the instance metadata for the two warnings EC2 gives a Spot instance: the interruption
 * notice (spot/instance-action: terminate, stop or hibernate at a time, two minutes ahead) and the
 * rebalance recommendation (events/recommendations/rebalance: the instance is at higher risk).
 * Both are read every poll (AWS advises every 5 s); each is passed on once.
 */
import type { Logger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';
import { IMDS_PATHS, type ImdsClient } from './imds-client.ts';

export interface SpotInterruptionNotice {
  action: string;
  /** When EC2 acts, ms since the epoch. */
  timeMs: number;
  /** As IMDS gave it. */
  time: string;
}

export interface RebalanceRecommendation {
  noticeTime: string;
}

export interface InterruptionWatchOptions {
  imds: Pick<ImdsClient, 'get' | 'endpoint'>;
  pollSec: number;
  logger: Logger;
  onInterruption(notice: SpotInterruptionNotice): void;
  onRebalance(recommendation: RebalanceRecommendation): void;
  now?: () => number;
}

/** The notice's JSON, or undefined when it is not one. */
export function parseInterruptionNotice(text: string): SpotInterruptionNotice | undefined {
  try {
    const value = JSON.parse(text) as { action?: unknown; time?: unknown };
    if (typeof value.action !== 'string' || typeof value.time !== 'string') return undefined;
    const timeMs = Date.parse(value.time);
    return Number.isFinite(timeMs) ? { action: value.action, time: value.time, timeMs } : undefined;
  } catch {
    return undefined;
  }
}

export function parseRebalance(text: string): RebalanceRecommendation {
  try {
    const value = JSON.parse(text) as { noticeTime?: unknown };
    if (typeof value.noticeTime === 'string') return { noticeTime: value.noticeTime };
  } catch {
    // not JSON: passed on as read
  }
  return { noticeTime: text };
}

/** The text of an interruption notice in logs and attempt reports. */
export function interruptionNote(notice: SpotInterruptionNotice): string {
  return `Spot interruption notice (${notice.action} at ${notice.time})`;
}

export class InterruptionWatch {
  private readonly options: InterruptionWatchOptions;
  private readonly stopped = new AbortController();
  private interrupted = false;
  private rebalanced = false;
  private failing = false;
  private loop: Promise<void> | undefined;

  constructor(options: InterruptionWatchOptions) {
    this.options = options;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  /** One look at both paths (exposed for tests and for a first look at start). */
  async poll(): Promise<void> {
    const { imds, logger } = this.options;
    try {
      const [action, rebalance] = await Promise.all([
        this.interrupted ? undefined : imds.get(IMDS_PATHS.spotAction),
        this.rebalanced || this.interrupted ? undefined : imds.get(IMDS_PATHS.rebalance),
      ]);
      if (this.failing) logger.info('instance metadata answers again', { endpoint: imds.endpoint });
      this.failing = false;
      if (action !== undefined && !this.interrupted) {
        const notice = parseInterruptionNotice(action);
        if (notice === undefined) {
          logger.warn('unreadable Spot interruption notice; ignored', { notice: action });
        } else {
          this.interrupted = true;
          logger.warn(interruptionNote(notice), {
            action: notice.action,
            time: notice.time,
            leftSec: Math.round((notice.timeMs - (this.options.now ?? Date.now)()) / 1000),
          });
          this.options.onInterruption(notice);
          return;
        }
      }
      if (rebalance !== undefined && !this.rebalanced) {
        this.rebalanced = true;
        const recommendation = parseRebalance(rebalance);
        logger.warn('EC2 instance rebalance recommendation', { noticeTime: recommendation.noticeTime });
        this.options.onRebalance(recommendation);
      }
    } catch (error) {
      // Logged once per outage, not at every poll.
      if (!this.failing) logger.warn('cannot read the instance metadata; still trying', { error });
      this.failing = true;
    }
  }

  private async run(): Promise<void> {
    const signal = this.stopped.signal;
    while (!signal.aborted && !this.interrupted) {
      await this.poll();
      await sleep(this.options.pollSec * 1000, signal);
    }
  }
}
