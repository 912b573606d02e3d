import type { Deps } from '#core/deps.ts';
import { listPilots } from '#core/pilots/list-pilots.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';

/** GET /pilots — pilots with their leases (operators). */
export function createHandler(deps: Pick<Deps, 'pilots' | 'leases'>) {
  return httpHandler('listPilots', ({ query }) => withPageToken(() => listPilots(deps, query)));
}
