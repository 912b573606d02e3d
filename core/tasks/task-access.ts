import { SCOPES } from '../api/common.ts';
import type { Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import type { TaskStore } from './ports.ts';
import type { Task, TaskHead } from './task.ts';

/**
 * The task if the caller owns it. Another user's task is reported as missing, so task ids of
 * other users cannot be probed.
 */
export async function ownedTask(tasks: TaskStore, principal: Principal, taskId: string): Promise<Task> {
  const task = await tasks.get(taskId);
  if (task === undefined || task.owner !== principal.sub) throw new NotFoundError(`task ${taskId} not found`);
  return task;
}

/** The same check, reading only the task's small head. */
export async function ownedTaskHead(
  tasks: TaskStore,
  principal: Principal,
  taskId: string,
): Promise<TaskHead> {
  const head = await tasks.getHead(taskId);
  if (head === undefined || head.owner !== principal.sub) throw new NotFoundError(`task ${taskId} not found`);
  return head;
}

/**
 * The task's head if the caller owns it or is an operator (`gluon.admin`); missing otherwise, as
 * for `ownedTaskHead`.
 */
export async function readableTaskHead(
  tasks: TaskStore,
  principal: Principal,
  taskId: string,
): Promise<TaskHead> {
  const head = await tasks.getHead(taskId);
  const allowed =
    head !== undefined && (head.owner === principal.sub || principal.scopes.includes(SCOPES.admin));
  if (!allowed) throw new NotFoundError(`task ${taskId} not found`);
  return head;
}
