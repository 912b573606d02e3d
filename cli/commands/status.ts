import { setTimeout as sleep } from 'node:timers/promises';
import { stripVTControlCharacters } from 'node:util';
import type { Command } from 'commander';
import type { TaskView } from '#core/api/index.ts';
import { isFinalTaskState } from '#core/tasks/task.ts';
import type { ApiClient } from '../api-client.ts';
import { ApiError, ApiUnreachableError } from '../cli-error.ts';
import { type CliContext, type CliIo, useColor, writeLine } from '../cli-io.ts';
import {
  DEFAULT_BAR_WIDTH,
  renderEventProgress,
  renderProgress,
  renderTaskStatus,
  renderTaskSummary,
} from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parsePositiveSeconds,
  printJson,
} from './common.ts';

export interface WatchOptions {
  /** Between polls; default 1000. */
  intervalMs?: number;
  /** Called with the first view and then whenever the task changed. */
  onUpdate?: (task: TaskView, previous: TaskView | undefined) => void;
  signal?: AbortSignal;
  /** Unreachable API or 5xx this many times in a row ends the watch; default 5. */
  maxConsecutiveErrors?: number;
}

function changeKey(task: TaskView): string {
  const { state, counts, reason, jobCount, jobsEnqueued, cancelRequested } = task;
  return JSON.stringify({ state, counts, reason, jobCount, jobsEnqueued, cancelRequested });
}

/** Polls a task until it is final (done, partial, failed, cancelled) and returns its last view. */
export async function watchTask(
  client: ApiClient,
  taskId: string,
  options: WatchOptions = {},
): Promise<TaskView> {
  const intervalMs = options.intervalMs ?? 1000;
  const maxErrors = options.maxConsecutiveErrors ?? 5;
  let previous: TaskView | undefined;
  let errors = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    let task: TaskView | undefined;
    try {
      task = await client.call('getTask', { params: { taskId } });
      errors = 0;
    } catch (error) {
      const retriable =
        error instanceof ApiUnreachableError ||
        (error instanceof ApiError && (error.status >= 500 || error.status === 0));
      errors += 1;
      if (!retriable || errors >= maxErrors) throw error;
    }
    if (task !== undefined) {
      if (previous === undefined || changeKey(task) !== changeKey(previous))
        options.onUpdate?.(task, previous);
      previous = task;
      if (isFinalTaskState(task.state)) return task;
    }
    await sleep(intervalMs, undefined, { signal: options.signal });
  }
}

/** Terminal rows a text takes, counting lines the terminal wraps. */
export function screenLines(text: string, columns: number | undefined): number {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  const width = columns !== undefined && columns > 0 ? columns : Number.POSITIVE_INFINITY;
  return lines.reduce(
    (n, line) => n + Math.max(1, Math.ceil(stripVTControlCharacters(line).length / width)),
    0,
  );
}

function barWidth(io: CliIo): number {
  const columns = io.stdout.columns;
  return columns === undefined ? DEFAULT_BAR_WIDTH : Math.max(10, Math.min(DEFAULT_BAR_WIDTH, columns - 24));
}

/** The end-of-watch summary reads at most this many jobs (a few API pages). */
const SUMMARY_MAX_JOBS = 5000;

/** `status --watch`: follows the task, prints the summary, returns 0 when done, 1 otherwise. */
export async function runWatch(
  io: CliIo,
  client: ApiClient,
  taskId: string,
  options: { json?: boolean; intervalSec: number },
): Promise<number> {
  const color = useColor(io);
  const tty = io.stdout.isTTY === true;
  let drawnLines = 0;
  const onUpdate = (task: TaskView) => {
    if (options.json) {
      printJson(io, task, false);
    } else if (tty) {
      const text = `${renderTaskStatus(task, { color, width: barWidth(io) })}\n`;
      if (drawnLines > 0) io.stdout.write(`\u001b[${drawnLines}A\u001b[J`);
      io.stdout.write(text);
      drawnLines = screenLines(text, io.stdout.columns);
    } else {
      // An event-service task's progress is in events (its jobs are a few consumers and merges).
      const progress =
        task.ranges === undefined
          ? renderProgress(task, { width: 30 })
          : renderEventProgress(task.ranges, { width: 30 });
      const [head = ''] = progress.split('\n');
      writeLine(io.stdout, `${new Date().toISOString().slice(11, 19)} ${task.state.padEnd(9)} ${head}`);
    }
  };
  const task = await watchTask(client, taskId, { intervalMs: options.intervalSec * 1000, onUpdate });
  if (!options.json) {
    try {
      const jobs = await client.listAllJobs(taskId, { limit: SUMMARY_MAX_JOBS });
      writeLine(io.stdout);
      writeLine(io.stdout, renderTaskSummary(task, jobs, { color }));
      if (task.jobCount > jobs.length) {
        writeLine(
          io.stdout,
          `  (attempts, usage and outputs over the first ${jobs.length} of ${task.jobCount} jobs)`,
        );
      }
    } catch (error) {
      writeLine(
        io.stderr,
        `warning: could not list the task's jobs for the summary: ${(error as Error).message}`,
      );
    }
  }
  return task.state === 'done' ? 0 : 1;
}

interface StatusOptions extends CommonOptions {
  watch?: boolean;
  interval?: number;
}

export function registerStatus(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('status')
      .description("show a task's state and its jobs' progress")
      .argument('<task>', 'task id (t-…)')
      .option('-w, --watch', 'refresh until the task ends; exit 0 if done, 1 if partial, failed or cancelled')
      .option('--interval <sec>', 'seconds between refreshes with --watch', parsePositiveSeconds, 1),
  )
    .addHelpText(
      'after',
      `
The bar shows jobs by state: finished #, failed X, cancelled /, running >, queued ., defined
(blank). A scouted task (split.targetWalltimeSec) also shows what its scouts measured (seconds
per event, peak RSS) and the sizing chosen from it (events per job, memory). --json prints the
task view (state, counts by job state, spec, history, scouting); with --watch, one JSON line per
change, the last one final.

Examples:
  gluon status t-01jd3k7q2x --watch
  gluon status t-01jd3k7q2x --json | jq .counts`,
    )
    .action(async (taskId: string, options: StatusOptions) => {
      checkTaskId(taskId);
      const client = clientFor(io, options);
      if (options.watch) {
        ctx.exitCode = await runWatch(io, client, taskId, {
          json: options.json,
          intervalSec: options.interval ?? 1,
        });
        return;
      }
      const task = await client.call('getTask', { params: { taskId } });
      if (options.json) printJson(io, task);
      else writeLine(io.stdout, renderTaskStatus(task, { color: useColor(io), width: barWidth(io) }));
    });
}
