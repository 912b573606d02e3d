import type { Deps, Principal } from '../deps.ts';
import { TransientError } from '../errors.ts';
import type { MetaTask } from './meta-task.ts';
import { validateMetaTaskSpec } from './meta-task-spec.ts';

/** A new meta-task id: `m-` and the task ids' alphabet (time-sortable like them). */
export function newMetaTaskId(deps: Pick<Deps, 'ids'>): string {
  return `m-${deps.ids.taskId().slice(2)}`;
}

/**
 * Validates the spec (a bad one is a 400 naming the field, with nothing written), stores the
 * meta-task with every node pending and starts its workflow. If the workflow cannot be started
 * the meta-task is marked failed and the caller may submit again.
 */
export async function submitMetaTask(
  deps: Pick<Deps, 'metaTasks' | 'metaTaskWorkflow' | 'clock' | 'ids'>,
  principal: Principal,
  body: unknown,
): Promise<{ metaTaskId: string }> {
  const { spec, edges, order } = validateMetaTaskSpec(body, principal.sub);
  const at = deps.clock.now().toISOString();
  const metaTask: MetaTask = {
    metaTaskId: newMetaTaskId(deps),
    owner: principal.sub,
    name: spec.name,
    shape: spec.shape,
    spec,
    edges,
    order,
    state: 'running',
    nodes: order.map((name) => ({
      name,
      type: spec.nodes.find((n) => n.name === name)?.merge === undefined ? 'task' : 'merge',
      state: 'pending',
      history: [],
    })),
    cancelRequested: false,
    retries: 0,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
  await deps.metaTasks.create(metaTask);
  try {
    await deps.metaTaskWorkflow.start(metaTask.metaTaskId);
  } catch (error) {
    await deps.metaTasks.update({
      ...metaTask,
      state: 'failed',
      reason: `workflow could not be started: ${(error as Error).message}`,
      endedAt: deps.clock.now().toISOString(),
      version: 2,
    });
    throw new TransientError('the meta-task workflow could not be started; submit again');
  }
  return { metaTaskId: metaTask.metaTaskId };
}
