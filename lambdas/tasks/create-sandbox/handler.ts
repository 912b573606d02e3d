import type { Deps } from '#core/deps.ts';
import { createSandbox } from '#core/tasks/create-sandbox.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /sandboxes — upload URLs for sandbox files. */
export function createHandler(deps: Pick<Deps, 'objects'>) {
  return httpHandler('createSandbox', ({ body, principal }) => createSandbox(deps, principal, body));
}
