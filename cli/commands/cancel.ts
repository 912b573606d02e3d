import type { Command } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import { addCommonOptions, type CommonOptions, checkTaskId, clientFor, printJson } from './common.ts';

export function registerCancel(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('cancel')
      .description('cancel a task: jobs not started are cancelled, running jobs are killed by their pilots')
      .argument('<task>', 'task id (t-…)'),
  )
    .addHelpText(
      'after',
      '\nThe task ends in state cancelled once every job is final; follow it with `gluon status TASK --watch`.',
    )
    .action(async (taskId: string, options: CommonOptions) => {
      checkTaskId(taskId);
      const answer = await clientFor(io, options).call('cancelTask', { params: { taskId } });
      if (options.json) {
        printJson(io, answer ?? { taskId });
        return;
      }
      const state = answer?.state === undefined ? '' : ` (task state: ${answer.state})`;
      writeLine(io.stdout, `cancel requested for task ${taskId}${state}`);
    });
}
