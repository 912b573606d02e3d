import type { Deps } from '#core/deps.ts';
import { createSandbox } from '#core/tasks/create-sandbox.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /sandboxes — presigned upload URLs for a task's sandbox files. */
export function createHandler(deps: Pick<Deps, 'objects'>) {
  return httpHandler({
    name: 'create-sandbox',
    body: true,
    run: ({ body, principal }) => createSandbox(deps, principal, body),
  });
}
