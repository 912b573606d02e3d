/** What runs a consumer's ranges, one at a time: a process per range, or one payload fed ranges (stream). */
import type { RangeParameters } from '#core/event-ranges/event-range.ts';
import type { PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import type { PayloadResult } from '../payload-runner.ts';
import type { Attempt } from '../run-attempt.ts';

/** A range's input file as the payload finds it. */
export interface RangeInput {
  /** The name as the spec gives it. */
  name: string;
  /** What the payload is given: the local name of a downloaded file, else the name unchanged. */
  payloadName: string;
  /** Absolute path of a downloaded file, else the name unchanged. */
  path: string;
}

export interface RangeTask {
  range: RangeParameters;
  /** Absolute path where the range's output must be when it succeeded. */
  output: string;
  input?: RangeInput;
}

export type RangeOutcome =
  | { ok: true }
  | { ok: false; code: PilotErrorCode; error: string }
  /** The pilot ended the payload (abort, cancel): the range did not run to its end, and is handed back. */
  | { ok: false; stopped: true };

export interface RangeRunner {
  run(task: RangeTask): Promise<RangeOutcome>;
  /** Ends the payload: at once (kill), or letting it finish on its own for a bounded time. */
  close(kill: boolean): Promise<void>;
}

export interface RangeRunnerContext {
  attempt: Attempt;
  /** The pilot's abort and the consumer's own kill (cancel): ends a running payload. */
  signal: AbortSignal;
  /** Walltime a payload process started now may have. */
  walltimeSec(): number;
  /** How much payload output the attempt log may still take (its cap spans every payload process). */
  logRoom(): Promise<number>;
  /** Called with every payload process's end (usage, notes). */
  onProcessEnd(result: PayloadResult): void;
}

/** A payload error message's first line, short enough for a range report. */
export function shortError(message: string | undefined, fallback: string): string {
  return (message?.split('\n')[0] ?? fallback).slice(0, 500) || fallback;
}
