import type { JobLogResponse, JobOutputResponse, TaskOutput, TaskOutputsResponse } from '../api/results.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import type { TaskHead } from '../tasks/task.ts';
import { readableTaskHead } from '../tasks/task-access.ts';
import { optional } from './end-attempt.ts';
import { jobIdOf, type OutputFile } from './job.ts';
import { jobAttempts } from './list-jobs.ts';

/**
 * How long a download URL works. Long enough to fetch a large output over a slow link (a resumed
 * download asks for a fresh URL); short enough that a leaked URL soon stops working.
 */
export const DOWNLOAD_URL_TTL_SEC = 3600;

/** Records read per store call when listing a task's outputs. */
const LIST_PAGE = 1000;

/**
 * A download URL of one attempt's log: the job's last ended attempt unless `attempt` is given. The
 * running attempt has no log yet: its pilot uploads it when the attempt ends.
 */
export async function getJobLog(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'objects'>,
  principal: Principal,
  taskId: string,
  jobIndex: number,
  attempt?: number,
): Promise<JobLogResponse> {
  const head = await readableTaskHead(deps.tasks, principal, taskId);
  const jobId = existingJobId(head, jobIndex);
  const [record, archived] = await Promise.all([
    deps.jobs.get(taskId, jobIndex),
    deps.jobs.attempts(taskId, jobIndex),
  ]);
  const attempts = jobAttempts(record, archived);
  const chosen = attempt === undefined ? attempts.at(-1) : attempts.find((a) => a.attempt === attempt);
  if (chosen === undefined) {
    throw new NotFoundError(
      attempt === undefined
        ? `job ${jobId} has no log yet: no attempt of it has ended`
        : `attempt ${attempt} of job ${jobId} not found (or not ended yet)`,
    );
  }
  if (chosen.log === undefined)
    throw new NotFoundError(`attempt ${chosen.attempt} of job ${jobId} has no log (its pilot sent none)`);
  return {
    taskId,
    index: jobIndex,
    attempt: chosen.attempt,
    url: await deps.objects.presignGet(chosen.log.key, DOWNLOAD_URL_TTL_SEC),
    expiresInSec: DOWNLOAD_URL_TTL_SEC,
  };
}

/** A download URL of one output of a job, as its record names it. */
export async function getJobOutput(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'objects'>,
  principal: Principal,
  taskId: string,
  jobIndex: number,
  name: string,
): Promise<JobOutputResponse> {
  const head = await readableTaskHead(deps.tasks, principal, taskId);
  const jobId = existingJobId(head, jobIndex);
  const record = await deps.jobs.get(taskId, jobIndex);
  const output = record?.outputs?.find((o) => o.name === name);
  if (output === undefined) throw new NotFoundError(`output ${name} of job ${jobId} not found`);
  return {
    taskId,
    index: jobIndex,
    name: output.name,
    url: await deps.objects.presignGet(output.key, DOWNLOAD_URL_TTL_SEC),
    sizeBytes: output.bytes,
    ...optional('adler32', output.adler32),
    expiresInSec: DOWNLOAD_URL_TTL_SEC,
  };
}

/** A task's outputs as its jobs recorded them (jobs in index order), or those of one job. */
export async function listTaskOutputs(
  deps: Pick<Deps, 'tasks' | 'jobs'>,
  principal: Principal,
  taskId: string,
  jobIndex?: number,
): Promise<TaskOutputsResponse> {
  const head = await readableTaskHead(deps.tasks, principal, taskId);
  if (jobIndex !== undefined) {
    existingJobId(head, jobIndex);
    const record = await deps.jobs.get(taskId, jobIndex);
    return { outputs: (record?.outputs ?? []).map((o) => taskOutput(jobIndex, o)) };
  }
  const outputs: TaskOutput[] = [];
  let from = 0;
  for (;;) {
    const { records, more } = await deps.jobs.list(taskId, from, LIST_PAGE);
    for (const record of records)
      outputs.push(...(record.outputs ?? []).map((o) => taskOutput(record.jobIndex, o)));
    const last = records.at(-1);
    if (!more || last === undefined) return { outputs };
    from = last.jobIndex + 1;
  }
}

function existingJobId(head: TaskHead, jobIndex: number): string {
  const jobId = jobIdOf(head.taskId, jobIndex);
  if (jobIndex >= head.jobCount) throw new NotFoundError(`job ${jobId} not found`);
  return jobId;
}

function taskOutput(index: number, output: OutputFile): TaskOutput {
  return { index, name: output.name, sizeBytes: output.bytes, ...optional('adler32', output.adler32) };
}
