import type { MetaTaskView } from '../api/meta-tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, GluonError } from '../errors.ts';
import { cancelTask } from '../tasks/cancel-task.ts';
import { steerTask } from '../tasks/steer-task.ts';
import { releaseMetaTaskWaitIfReady } from './advance-meta-task.ts';
import { changeMetaTask } from './change-meta-task.ts';
import { isFinalMetaTaskState, type MetaTask } from './meta-task.ts';
import { metaTaskView, ownedMetaTask } from './read-meta-tasks.ts';
import { nodesToRetry } from './readiness.ts';

export type SteerMetaTaskDeps = Pick<
  Deps,
  'metaTasks' | 'metaTaskWorkflow' | 'tasks' | 'workflow' | 'clock' | 'policies'
>;

/** The owner acting on a node's task (the meta-task's owner owns its nodes' tasks). */
function ownerOf(m: MetaTask): Principal {
  return { sub: m.owner, scopes: [] };
}

/** Runs a task use case on a node's task; a task that ended meanwhile is no error here. */
async function onNodeTask(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof ConflictError) return;
    if (error instanceof GluonError && error.kind === 'not-found') return;
    throw error;
  }
}

/**
 * Cancels a meta-task: no node starts any more, running nodes' tasks are cancelled (the task
 * cancel use case), and the workflow ends it `cancelled` (pending nodes cancelled) once they ended.
 */
export async function cancelMetaTask(
  deps: SteerMetaTaskDeps,
  principal: Principal,
  metaTaskId: string,
): Promise<MetaTaskView> {
  await ownedMetaTask(deps, principal, metaTaskId);
  const m = await changeMetaTask(deps, metaTaskId, (current) => {
    if (isFinalMetaTaskState(current.state))
      throw new ConflictError(`meta-task ${metaTaskId} already ended ${current.state}`);
    if (current.cancelRequested) return undefined;
    return { ...current, cancelRequested: true, state: 'running' };
  });
  for (const node of m.nodes) {
    if (node.state !== 'running' || node.taskId === undefined) continue;
    const taskId = node.taskId;
    await onNodeTask(() => cancelTask(deps, ownerOf(m), taskId));
  }
  await releaseMetaTaskWaitIfReady(deps, metaTaskId);
  return metaTaskView(deps, (await deps.metaTasks.get(metaTaskId)) ?? m);
}

/** Pauses a running meta-task: no node starts, running nodes' tasks are paused. */
export async function pauseMetaTask(
  deps: SteerMetaTaskDeps,
  principal: Principal,
  metaTaskId: string,
): Promise<MetaTaskView> {
  return steer(deps, principal, metaTaskId, true);
}

/** Resumes a paused meta-task: its nodes' tasks resume and ready nodes start. */
export async function resumeMetaTask(
  deps: SteerMetaTaskDeps,
  principal: Principal,
  metaTaskId: string,
): Promise<MetaTaskView> {
  return steer(deps, principal, metaTaskId, false);
}

async function steer(
  deps: SteerMetaTaskDeps,
  principal: Principal,
  metaTaskId: string,
  paused: boolean,
): Promise<MetaTaskView> {
  await ownedMetaTask(deps, principal, metaTaskId);
  const m = await changeMetaTask(deps, metaTaskId, (current) => {
    if (isFinalMetaTaskState(current.state) || current.cancelRequested) {
      throw new ConflictError(
        `meta-task ${metaTaskId} is ${current.cancelRequested ? 'cancelled' : `already ${current.state}`}: it cannot be ${paused ? 'paused' : 'resumed'}`,
      );
    }
    const state = paused ? 'paused' : 'running';
    return current.state === state ? undefined : { ...current, state };
  });
  for (const node of m.nodes) {
    if (node.state !== 'running' || node.taskId === undefined) continue;
    const taskId = node.taskId;
    await onNodeTask(() => steerTask(deps, ownerOf(m), taskId, { paused }));
  }
  if (!paused) await releaseMetaTaskWaitIfReady(deps, metaTaskId);
  return metaTaskView(deps, m);
}

/**
 * Retries an ended (failed, partial or cancelled) meta-task from its failed nodes: they, and the
 * nodes skipped below them, go back to pending (their old task ids kept in their history), and a
 * new execution (`<id>-r<n>`) runs the loop again; done nodes are not run again.
 */
export async function retryMetaTask(
  deps: SteerMetaTaskDeps,
  principal: Principal,
  metaTaskId: string,
): Promise<MetaTaskView> {
  await ownedMetaTask(deps, principal, metaTaskId);
  const m = await changeMetaTask(deps, metaTaskId, (current) => {
    if (!isFinalMetaTaskState(current.state) || current.state === 'done') {
      throw new ConflictError(
        `meta-task ${metaTaskId} is ${current.state}: only a failed, partial or cancelled one is retried`,
      );
    }
    const again = new Set(nodesToRetry(current.edges, current.nodes));
    for (const node of current.nodes) {
      if (!again.has(node.name)) continue;
      if (node.taskId !== undefined) node.history.push({ taskId: node.taskId, state: node.state });
      node.state = 'pending';
      delete node.taskId;
      delete node.reason;
      delete node.jobCount;
      delete node.finished;
    }
    const next: MetaTask = {
      ...current,
      state: 'running',
      cancelRequested: false,
      retries: current.retries + 1,
    };
    delete next.endedAt;
    delete next.reason;
    delete next.waitToken;
    return next;
  });
  await deps.metaTaskWorkflow.start(metaTaskId, m.retries);
  return metaTaskView(deps, m);
}
