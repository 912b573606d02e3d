import type { Command } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTasksTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, parsePositiveInt, printJson } from './common.ts';

export function registerTasks(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('tasks')
      .description('list tasks: id, name, state, jobs, done %, created')
      .option('--limit <n>', 'at most this many tasks', parsePositiveInt, 100),
  )
    .addHelpText(
      'after',
      '\n--json prints an array of task summaries (taskId, name, state, jobCount, counts, …).',
    )
    .action(async (options: CommonOptions & { limit: number }) => {
      const tasks = await clientFor(io, options).listAllTasks(options.limit);
      if (options.json) printJson(io, tasks);
      else writeLine(io.stdout, renderTasksTable(tasks));
    });
}
