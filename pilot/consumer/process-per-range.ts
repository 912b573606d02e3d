/**
 * Process-per-range mode: the task's payload runs once per range, placeholders filled with the
 * range (${firstEvent}, ${nEvents}, ${rangeIndex}, ${inputFiles}), and writes the task's output
 * file in the work directory, which the pilot then moves aside for its upload.
 */
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { runPayload } from '../payload-runner.ts';
import { evictedMeanwhile, isFile, pilotPayloadOptions, resolveAttemptPayload } from '../run-attempt.ts';
import type { RangeRunner, RangeRunnerContext } from './range-runner.ts';
import { shortError } from './range-runner.ts';

/** `outputName`: the file the payload writes in its work directory. */
export function processPerRange(ctx: RangeRunnerContext, outputName: string): RangeRunner {
  const { attempt, signal } = ctx;
  const written = join(attempt.workDir, outputName);
  return {
    async run({ range, output, input }) {
      // A file left by an earlier range must not pass for this range's output.
      await rm(written, { force: true });
      const resolved = resolveAttemptPayload(attempt, {
        firstEvent: range.firstEvent,
        nEvents: range.nEvents,
        rangeIndex: range.rangeIndex,
        ...(input === undefined ? {} : { inputFiles: [input.payloadName] }),
      });
      const result = await runPayload({
        ...pilotPayloadOptions(attempt),
        // The cap spans the whole attempt log: a range is not failed for what earlier ranges wrote.
        logCapBytes: await ctx.logRoom(),
        logCapAction: 'truncate',
        signal,
        command: resolved.command,
        args: resolved.args,
        env: resolved.env,
        workDir: attempt.workDir,
        walltimeSec: ctx.walltimeSec(),
        memoryMB: attempt.job.resources.memoryMB,
      });
      ctx.onProcessEnd(result);
      if (result.stoppedBy === 'abort' || (await evictedMeanwhile(result, signal))) {
        return { ok: false, stopped: true };
      }
      if (result.pilotErrorCode !== PILOT_ERROR_CODES.OK) {
        return { ok: false, code: result.pilotErrorCode, error: shortError(result.errorMessage, 'failed') };
      }
      if (!(await isFile(written))) {
        return {
          ok: false,
          code: PILOT_ERROR_CODES.OUTPUT_MISSING,
          error: `the payload did not write ${outputName}`,
        };
      }
      await rename(written, output);
      return { ok: true };
    },
    // Nothing outlives a range.
    close: async () => {},
  };
}
