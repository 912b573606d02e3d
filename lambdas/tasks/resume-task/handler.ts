import type { Deps } from '#core/deps.ts';
import { steerTask } from '#core/tasks/steer-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks/{taskId}/resume — the task's jobs start again. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'policies'>) {
  return httpHandler('resumeTask', ({ params, principal }) =>
    steerTask(deps, principal, params.taskId, { paused: false }),
  );
}
