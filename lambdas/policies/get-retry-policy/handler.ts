import type { Deps } from '#core/deps.ts';
import { getRetryPolicy } from '#core/policies/retry-policy-versions.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /retry-policy — the current retry rules, or a version of them. */
export function createHandler(deps: Pick<Deps, 'retryPolicies'>) {
  return httpHandler('getRetryPolicy', ({ query }) => getRetryPolicy(deps, query.version));
}
