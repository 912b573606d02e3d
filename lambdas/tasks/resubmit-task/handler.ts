import type { Deps } from '#core/deps.ts';
import { resubmitTask } from '#core/tasks/resubmit-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks/{taskId}/resubmit — ended jobs run again; an ended task reopens. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'workflow' | 'clock'>) {
  return httpHandler('resubmitTask', ({ params, body, principal }) =>
    resubmitTask(deps, principal, params.taskId, body),
  );
}
