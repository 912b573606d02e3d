import type { Command } from 'commander';
import { type CliContext, useColor, writeLine } from '../cli-io.ts';
import { renderJob } from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parseJobIndex,
  printJson,
} from './common.ts';

/** `gluon job TASK INDEX`: one job, where its attempt ran, what it wrote, and every attempt it had. */
export function registerJob(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('job')
      .description(
        'one job in detail: state, site, pilot, host, exit and error codes, outputs, log, and every attempt',
      )
      .argument('<task>', 'task id (t-…)')
      .argument('<index>', 'job index (0, 1, … as `gluon jobs` lists them)', parseJobIndex),
  )
    .addHelpText(
      'after',
      `
The attempts table shows why a job was retried: each attempt's state (finished, failed, lost,
evicted, cancelled, abandoned), site, pilot and host, times, wall seconds, exit code and pilot
error code. ERROR is the pilot error code (1001 payload failed, 1101 walltime, 1102 memory,
12xx staging, 13xx pilot/system: 1302 evicted, 1304 pilot lost, 1305 claim abandoned;
1401 cancelled); 1302 and 1305 are the system's fault and do not count against maxAttempts.
A memory or walltime kill raises that resource for the next attempt (the task's retry
factors). --json prints the job as the API answers it, with \`attempts\`.

Example:
  gluon job t-01jd3k7q2x 17`,
    )
    .action(async (taskId: string, jobIndex: number, options: CommonOptions) => {
      checkTaskId(taskId);
      const job = await clientFor(io, options).call('getJob', { params: { taskId, jobIndex } });
      if (options.json) printJson(io, job);
      else writeLine(io.stdout, renderJob(job, { color: useColor(io) }));
    });
}
