import type { Command } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parseJobIndex,
  printJson,
} from './common.ts';

export function registerKill(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('kill')
      .description('kill one job of a task: cancelled at once if not started, else its pilot kills it')
      .argument('<task>', 'task id (t-…)')
      .requiredOption('--job <index>', 'the job to kill (its index, from 0)', parseJobIndex),
  )
    .addHelpText(
      'after',
      '\nThe rest of the task runs on; it ends partial. To stop the whole task: gluon cancel TASK.',
    )
    .action(async (taskId: string, options: CommonOptions & { job: number }) => {
      checkTaskId(taskId);
      const answer = await clientFor(io, options).call('killJob', {
        params: { taskId, jobIndex: options.job },
      });
      if (options.json) printJson(io, answer);
      else
        writeLine(
          io.stdout,
          answer.state === 'cancelled'
            ? `job ${answer.jobIndex} of task ${taskId} cancelled (it had not started)`
            : `job ${answer.jobIndex} of task ${taskId}: its pilot is told to kill it`,
        );
    });
}
