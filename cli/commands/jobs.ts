import { type Command, Option } from 'commander';
import { JOB_STATES, type JobState } from '#core/jobs/job.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderJobsTable } from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parsePositiveInt,
  printJson,
} from './common.ts';

export function registerJobs(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('jobs')
      .description(
        "list a task's jobs: index, state, attempt, site, pilot, exit code, error code, wall time, error",
      )
      .argument('<task>', 'task id (t-…)')
      .addOption(new Option('--state <state>', 'only jobs in this state').choices([...JOB_STATES]))
      .option('--limit <n>', 'at most this many jobs (default: all, fetched page by page)', parsePositiveInt),
  )
    .addHelpText(
      'after',
      `
ERROR is the pilot error code (1001 payload failed, 1101 walltime, 1102 memory, 12xx staging,
13xx pilot/system, 1401 cancelled). --json prints an array of job views (jobIndex, state,
attempt, pilotId, exitCode, usage, outputs, …).

Example:
  gluon jobs t-01jd3k7q2x --state failed`,
    )
    .action(async (taskId: string, options: CommonOptions & { state?: JobState; limit?: number }) => {
      checkTaskId(taskId);
      const jobs = await clientFor(io, options).listAllJobs(taskId, {
        state: options.state,
        limit: options.limit,
      });
      if (options.json) printJson(io, jobs);
      else writeLine(io.stdout, renderJobsTable(jobs));
    });
}
