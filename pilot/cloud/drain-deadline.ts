/**
 * The timing of a drain on a Spot interruption notice: everything (the payloads ended, their
 * reports sent, the pilot gone) must be over before the notice's time, less a safety margin, and
 * within --drain-sec. The payloads get SIGTERM at once and SIGKILL after `killAfterMs`; the rest of
 * the drain is kept for the reports (and event-service hand-backs).
 */

/** Shortest drain, even when the notice's time has passed: the reports still get a chance. */
export const MIN_DRAIN_MS = 1000;

export interface DrainTimingOptions {
  /** The pilot's --drain-sec: a drain never takes longer. */
  drainSec: number;
  /** The pilot's --kill-grace-sec: the payloads' SIGTERM → SIGKILL at most. */
  killGraceSec: number;
  /** Time kept for the reports after the payloads are killed (at most half the drain). */
  reportReserveSec: number;
  /** The pilot is gone this long before the notice's time. */
  safetyMarginSec: number;
}

export const SPOT_DRAIN_DEFAULTS = { reportReserveSec: 10, safetyMarginSec: 5 } as const;

export interface DrainTiming {
  /** The whole drain, from now: the pilot has exited by then. */
  drainMs: number;
  /** From now to the payloads' SIGKILL. */
  killAfterMs: number;
  /** Kept for the reports at the end of the drain. */
  reportMs: number;
  /** The notice left less time than a drain needs (its time has passed, or nearly). */
  late: boolean;
}

export function drainDeadline(noticeTimeMs: number, nowMs: number, options: DrainTimingOptions): DrainTiming {
  const leftMs = noticeTimeMs - nowMs - options.safetyMarginSec * 1000;
  const drainMs = Math.max(MIN_DRAIN_MS, Math.min(leftMs, options.drainSec * 1000));
  const reportMs = Math.min(options.reportReserveSec * 1000, drainMs / 2);
  const killAfterMs = Math.max(0, Math.min(options.killGraceSec * 1000, drainMs - reportMs));
  return { drainMs, killAfterMs, reportMs, late: leftMs < MIN_DRAIN_MS };
}
