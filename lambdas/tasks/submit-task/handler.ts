import type { Deps } from '#core/deps.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /tasks — the body is the task spec; an Idempotency-Key header makes a repeat safe. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids' | 'catalog'>) {
  return httpHandler('submitTask', ({ body, headers, principal }) =>
    submitTask(deps, principal, body, headers['idempotency-key']),
  );
}
