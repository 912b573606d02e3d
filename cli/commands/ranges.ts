import { type Command, Option } from 'commander';
import { RANGE_STATES, type RangeState } from '#core/event-ranges/event-range.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderRangesTable } from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parsePositiveInt,
  printJson,
} from './common.ts';

export function registerRanges(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('ranges')
      .description(
        "list an event-service task's event ranges: index, state, attempt, events, file, pilot, error",
      )
      .argument('<task>', 'task id (t-…)')
      .addOption(new Option('--state <state>', 'only ranges in this state').choices([...RANGE_STATES]))
      .option(
        '--limit <n>',
        'at most this many ranges (default 1000; fetched page by page)',
        parsePositiveInt,
      ),
  )
    .addHelpText(
      'after',
      `
States: ready (waiting in the range queue, or a failed attempt's retry on its way), running (a
long range, noted when its lease was first extended), finished (its output stored, with size and
adler32), failed (an attempt failed; retried up to maxRangeAttempts), fatal (failed every
attempt; its message is in the task's range DLQ). --json prints an array of range views.

Examples:
  gluon ranges t-01jd3k7q2x --state fatal
  gluon ranges t-01jd3k7q2x --json --limit 100000`,
    )
    .action(async (taskId: string, options: CommonOptions & { state?: RangeState; limit?: number }) => {
      checkTaskId(taskId);
      const max = options.limit ?? 1000;
      const ranges = await clientFor(io, options).all(
        'listRanges',
        {
          params: { taskId },
          query: {
            limit: Math.min(max, 1000),
            ...(options.state === undefined ? {} : { state: options.state }),
          },
        },
        max,
      );
      if (options.json) printJson(io, ranges);
      else writeLine(io.stdout, renderRangesTable(ranges));
    });
}
