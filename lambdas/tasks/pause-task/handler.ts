import type { Deps } from '#core/deps.ts';
import { steerTask } from '#core/tasks/steer-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks/{taskId}/pause — no job of the task starts until it is resumed. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>) {
  return httpHandler('pauseTask', ({ params, principal }) =>
    steerTask(deps, principal, params.taskId, { paused: true }),
  );
}
