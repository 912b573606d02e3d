import { type Command, InvalidArgumentError } from 'commander';
import type { SteerTaskResponse } from '#core/api/tasks.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { addCommonOptions, type CommonOptions, checkTaskId, clientFor, printJson } from './common.ts';

function priorityArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 1000) throw new InvalidArgumentError('a whole number from 0 to 1000');
  return n;
}

function show(io: CliContext['io'], options: CommonOptions, answer: SteerTaskResponse): void {
  if (options.json) printJson(io, answer);
  else
    writeLine(
      io.stdout,
      `task ${answer.taskId}: ${answer.state}, ${answer.paused ? 'paused' : 'dispatching'}, priority ${answer.priority}`,
    );
}

/** `gluon pause`, `gluon resume` and `gluon priority`: the owner steers a running task. */
export function registerSteer(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('pause')
      .description("pause a task's dispatch: no job of it starts until `gluon resume`; running jobs go on")
      .argument('<task>', 'task id (t-…)'),
  ).action(async (taskId: string, options: CommonOptions) => {
    checkTaskId(taskId);
    show(io, options, await clientFor(io, options).call('pauseTask', { params: { taskId } }));
  });
  addCommonOptions(
    program
      .command('resume')
      .description("resume a paused task's dispatch")
      .argument('<task>', 'task id (t-…)'),
  ).action(async (taskId: string, options: CommonOptions) => {
    checkTaskId(taskId);
    show(io, options, await clientFor(io, options).call('resumeTask', { params: { taskId } }));
  });
  addCommonOptions(
    program
      .command('priority')
      .description("set a task's priority (0..1000, over its spec's)")
      .argument('<task>', 'task id (t-…)')
      .argument('<priority>', 'the new priority, 0..1000', priorityArg),
  ).action(async (taskId: string, priority: number, options: CommonOptions) => {
    checkTaskId(taskId);
    show(
      io,
      options,
      await clientFor(io, options).call('setTaskPriority', { params: { taskId }, body: { priority } }),
    );
  });
}
