/**
 * One claimed job attempt, from work directory to report: prepare the work directory, stage in
 * the sandbox and the input files, run the payload, stage out the declared outputs and the
 * attempt's one log object (the pilot's notes around the payload's output). Never throws for the
 * job's own failures: every outcome becomes a report with a pilot error code.
 */
import { join } from 'node:path';
import type { ClaimedJob, ReportInput } from '#core/api/pilots.ts';
import type { OutputFile } from '#core/jobs/job.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { runPayload } from './payload-runner.ts';
import {
  type Attempt,
  type AttemptContext,
  ERROR_MESSAGE_MAX,
  evictedMeanwhile,
  isFile,
  isPlainName,
  pilotPayloadOptions,
  resolveAttemptPayload,
  runAttempt,
  uploadOutput,
  writeHeader,
} from './run-attempt.ts';
import { planStageIn, stageIn } from './stage-in.ts';

export { jobDirName } from './run-attempt.ts';
export type RunJobContext = AttemptContext;

export async function runJob(job: ClaimedJob, ctx: RunJobContext): Promise<ReportInput> {
  return runAttempt(job, ctx, async (attempt) => {
    if (await stageInInputs(attempt)) await runAndStageOut(attempt);
  });
}

/** The job's input files. False (with the report failed as STAGE_IN_FAILED) on any failure. */
async function stageInInputs(attempt: Attempt): Promise<boolean> {
  const { job, ctx } = attempt;
  try {
    const plan = planStageIn(job, ctx.storage.bucket);
    attempt.facts.inputs = plan;
    await stageIn(plan, attempt.workDir, ctx.storage, {
      signal: ctx.signal,
      ...(ctx.freeDiskMB === undefined ? {} : { freeDiskMB: ctx.freeDiskMB }),
      onFallback: (bad, next) => {
        const note = `stage-in of ${bad.name} from ${bad.endpointId} failed (${bad.reason})${next === undefined ? '' : `; trying ${next}`}`;
        attempt.facts.notes = [...(attempt.facts.notes ?? []), note];
        attempt.logger.warn('replica failed', {
          name: bad.name,
          endpointId: bad.endpointId,
          reason: bad.reason,
        });
      },
    });
    return true;
  } catch (error) {
    attempt.fail(PILOT_ERROR_CODES.STAGE_IN_FAILED, `stage-in failed: ${(error as Error).message}`);
    return false;
  }
}

async function runAndStageOut(attempt: Attempt): Promise<void> {
  const { job, ctx, facts, report, logger } = attempt;
  const inputFiles = facts.inputs?.payloadNames ?? job.inputs?.map((i) => i.name);
  const resolved = resolveAttemptPayload(attempt, {
    ...(job.firstEvent === undefined ? {} : { firstEvent: job.firstEvent }),
    ...(job.nEvents === undefined ? {} : { nEvents: job.nEvents }),
    ...(inputFiles === undefined ? {} : { inputFiles }),
  });
  facts.command = resolved.command;
  facts.args = resolved.args;
  await writeHeader(attempt);
  logger.debug('payload starting', { command: resolved.command, args: resolved.args });
  const result = await runPayload({
    ...pilotPayloadOptions(attempt),
    command: resolved.command,
    args: resolved.args,
    env: resolved.env,
    workDir: attempt.workDir,
    walltimeSec: job.resources.walltimeSec,
    memoryMB: job.resources.memoryMB,
  });
  logger.debug('payload ended', {
    pilotErrorCode: result.pilotErrorCode,
    exitCode: result.exitCode,
    signal: result.signal,
    usage: result.usage,
  });
  report.usage = result.usage;
  if (await evictedMeanwhile(result, ctx.signal)) result.pilotErrorCode = PILOT_ERROR_CODES.EVICTED;
  report.pilotErrorCode = result.pilotErrorCode;
  if (result.exitCode !== undefined) report.exitCode = result.exitCode;
  if (result.signal !== undefined) report.signal = result.signal;
  if (result.errorMessage !== undefined)
    report.errorMessage = result.errorMessage.slice(0, ERROR_MESSAGE_MAX);

  if (result.pilotErrorCode === PILOT_ERROR_CODES.OK) {
    const outputs = await stageOutOutputs(attempt);
    if (outputs !== undefined) report.outputs = outputs;
  }
}

/** Uploads the declared outputs; on a missing output or a failed upload fails the report and returns undefined. */
async function stageOutOutputs(attempt: Attempt): Promise<OutputFile[] | undefined> {
  const { job, ctx, workDir } = attempt;
  const missing: string[] = [];
  for (const name of job.outputs) {
    if (!(isPlainName(name) && (await isFile(join(workDir, name))))) missing.push(name);
  }
  if (missing.length > 0) {
    attempt.fail(
      PILOT_ERROR_CODES.OUTPUT_MISSING,
      `declared output${missing.length > 1 ? 's' : ''} not written by the payload: ${missing.join(', ')}`,
    );
    return undefined;
  }
  const outputs: OutputFile[] = [];
  try {
    for (const name of job.outputs) {
      const key = `${job.outputPrefix}${name}`;
      outputs.push({ name, key, ...(await uploadOutput(ctx.storage, key, join(workDir, name))) });
    }
  } catch (error) {
    attempt.fail(PILOT_ERROR_CODES.STAGE_OUT_FAILED, `stage-out failed: ${(error as Error).message}`);
    return undefined;
  }
  return outputs;
}
