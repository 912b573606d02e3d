import type { Deps } from '#core/deps.ts';
import { steerTask } from '#core/tasks/steer-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** PUT /tasks/{taskId}/priority — the owner's priority, over the spec's. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>) {
  return httpHandler('setTaskPriority', ({ params, body, principal }) =>
    steerTask(deps, principal, params.taskId, { priority: body.priority }),
  );
}
