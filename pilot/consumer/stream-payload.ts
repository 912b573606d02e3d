/**
 * Stream mode: one long-running payload process fed ranges through two named pipes (the protocol
 * is in stream-protocol.ts), one range in flight, so a vanished pilot loses only that one. A
 * payload that dies fails the range in flight and is started again for the next. Per range the
 * pilot only writes a line and reads one: no process, no /proc walk (runPayload's limits poll on
 * their own clock).
 */
import { execFile } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { type PayloadResult, runPayload } from '../payload-runner.ts';
import { evictedMeanwhile, pilotPayloadOptions, resolveAttemptPayload } from '../run-attempt.ts';
import type { RangeOutcome, RangeRunner, RangeRunnerContext, RangeTask } from './range-runner.ts';
import { shortError } from './range-runner.ts';
import {
  END_LINE,
  LineSplitter,
  parseResultLine,
  RANGES_FIFO_VAR,
  RESULTS_FIFO_VAR,
  type ResultLine,
  rangeLine,
} from './stream-protocol.ts';

const run = promisify(execFile);

/** How long a payload told `end` may take to finish on its own before it is killed. */
const END_GRACE_MS = 10_000;

/** One start of the payload process. */
interface StreamProcess {
  /** The pilot's end of the ranges pipe (read-write: opening it never waits for the payload). */
  rangesFd: number;
  results: Socket;
  /** Ends this process (protocol error, end overrun), whatever the consumer does. */
  kill: AbortController;
  ended: Promise<PayloadResult>;
  result?: PayloadResult;
  /** Set while a range is in flight: settles it. */
  settle?: (outcome: RangeOutcome) => void;
  inFlight?: number;
}

export class StreamPayload implements RangeRunner {
  private readonly ctx: RangeRunnerContext;
  private readonly dir: string;
  private process: StreamProcess | undefined;

  /** `dir`: where the pipes are made (inside the work directory, so they go with it). */
  constructor(ctx: RangeRunnerContext, dir: string) {
    this.ctx = ctx;
    this.dir = dir;
  }

  async run({ range, output, input }: RangeTask): Promise<RangeOutcome> {
    if (this.ctx.signal.aborted) return { ok: false, stopped: true };
    const proc = this.process ?? (await this.start());
    const outcome = new Promise<RangeOutcome>((resolve) => {
      proc.settle = resolve;
    });
    proc.inFlight = range.rangeIndex;
    if (proc.result !== undefined) {
      // It ended before the range could be sent (stopped while starting, or died at once).
      void this.settleEnded(proc, proc.result);
    } else
      try {
        writeSync(proc.rangesFd, rangeLine(range, output, input?.path));
      } catch (error) {
        this.settle(proc, {
          ok: false,
          code: PILOT_ERROR_CODES.PAYLOAD_FAILED,
          error: `could not send the range to the payload: ${(error as Error).message}`,
        });
      }
    // An output missing after ok is found by its upload (no stat here: this path is per range).
    return outcome;
  }

  async close(kill: boolean): Promise<void> {
    const proc = this.process;
    if (proc === undefined) return;
    if (kill) proc.kill.abort(PILOT_ERROR_CODES.EVICTED);
    else {
      try {
        writeSync(proc.rangesFd, END_LINE);
      } catch {
        // a payload that is gone needs no end line
      }
      // Its last writer closed, the payload reads EOF.
      closeFd(proc);
    }
    const overrun = setTimeout(() => proc.kill.abort(PILOT_ERROR_CODES.EVICTED), END_GRACE_MS);
    await proc.ended;
    clearTimeout(overrun);
  }

  private async start(): Promise<StreamProcess> {
    const { attempt } = this.ctx;
    // New pipes for each process: nothing a dead one left unread reaches the next.
    const rangesPath = join(this.dir, 'ranges.fifo');
    const resultsPath = join(this.dir, 'results.fifo');
    await mkdir(this.dir, { recursive: true });
    await rm(rangesPath, { force: true });
    await rm(resultsPath, { force: true });
    await run('mkfifo', ['-m', '600', rangesPath, resultsPath]);
    // Read-write ends: neither open waits for the payload, and the payload's opens never block.
    const rangesFd = openSync(rangesPath, fsConstants.O_RDWR);
    const results = new Socket({
      fd: openSync(resultsPath, fsConstants.O_RDWR | fsConstants.O_NONBLOCK),
      readable: true,
      writable: false,
    });
    const kill = new AbortController();
    const resolved = resolveAttemptPayload(attempt, {});
    const proc: StreamProcess = {
      rangesFd,
      results,
      kill,
      ended: runPayload({
        ...pilotPayloadOptions(attempt),
        logCapBytes: await this.ctx.logRoom(),
        logCapAction: 'truncate',
        signal: AbortSignal.any([this.ctx.signal, kill.signal]),
        command: resolved.command,
        args: resolved.args,
        env: { ...resolved.env, [RANGES_FIFO_VAR]: rangesPath, [RESULTS_FIFO_VAR]: resultsPath },
        workDir: attempt.workDir,
        walltimeSec: this.ctx.walltimeSec(),
        memoryMB: attempt.job.resources.memoryMB,
      }),
    };
    const lines = new LineSplitter();
    results.setEncoding('utf8');
    results.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) this.onLine(proc, line);
    });
    results.on('error', () => {});
    void proc.ended.then((result) => this.onEnded(proc, result));
    this.process = proc;
    return proc;
  }

  private onLine(proc: StreamProcess, line: string): void {
    const result = parseResultLine(line);
    if ('invalid' in result || result.rangeIndex !== proc.inFlight) {
      const why =
        'invalid' in result
          ? result.invalid
          : `a result for range ${result.rangeIndex} while range ${proc.inFlight ?? 'none'} is in flight`;
      // The payload and the pilot no longer agree on what runs: start afresh.
      proc.kill.abort(PILOT_ERROR_CODES.PAYLOAD_FAILED);
      this.settle(proc, {
        ok: false,
        code: PILOT_ERROR_CODES.PAYLOAD_FAILED,
        error: `protocol error: ${why}`,
      });
      return;
    }
    this.settle(proc, outcomeOf(result));
  }

  private onEnded(proc: StreamProcess, result: PayloadResult): void {
    proc.result = result;
    if (this.process === proc) this.process = undefined;
    closeFd(proc);
    proc.results.destroy();
    this.ctx.onProcessEnd(result);
    void this.settleEnded(proc, result);
  }

  /** Fails the range in flight, if any, of a process that ended. */
  private async settleEnded(proc: StreamProcess, result: PayloadResult): Promise<void> {
    if (proc.settle === undefined) return;
    if (this.ctx.signal.aborted || (await evictedMeanwhile(result, this.ctx.signal))) {
      this.settle(proc, { ok: false, stopped: true });
      return;
    }
    const code: PilotErrorCode =
      result.pilotErrorCode === PILOT_ERROR_CODES.OK
        ? PILOT_ERROR_CODES.PAYLOAD_FAILED
        : result.pilotErrorCode;
    this.settle(proc, {
      ok: false,
      code,
      error: `the payload ended with range ${proc.inFlight} in flight: ${shortError(result.errorMessage, `exit code ${result.exitCode ?? '?'}`)}`,
    });
  }

  private settle(proc: StreamProcess, outcome: RangeOutcome): void {
    const settle = proc.settle;
    proc.settle = undefined;
    proc.inFlight = undefined;
    settle?.(outcome);
  }
}

function outcomeOf(result: ResultLine): RangeOutcome {
  if (result.ok) return { ok: true };
  return {
    ok: false,
    code: PILOT_ERROR_CODES.PAYLOAD_FAILED,
    error: (result.error ?? 'the payload answered ok: false').slice(0, 500),
  };
}

function closeFd(proc: StreamProcess): void {
  if (proc.rangesFd < 0) return;
  try {
    closeSync(proc.rangesFd);
  } catch {
    // closed already
  }
  proc.rangesFd = -1;
}
