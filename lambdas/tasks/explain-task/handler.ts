import { TaskPathSchema } from '#core/api/contract.ts';
import type { Deps } from '#core/deps.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /tasks/{taskId}/why — why the task's jobs are pending, in words, with the facts behind it. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'sites' | 'pilots' | 'queue' | 'clock'>) {
  return httpHandler({
    name: 'explain-task',
    path: TaskPathSchema,
    run: ({ path, principal }) => explainTask(deps, principal, path.taskId),
  });
}
