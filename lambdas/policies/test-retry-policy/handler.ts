import type { Deps } from '#core/deps.ts';
import { testRetryPolicy } from '#core/policies/test-retry-policy.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** POST /retry-policy/test — replays past failures against proposed retry rules; writes nothing. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'retryPolicies'>) {
  return httpHandler('testRetryPolicy', ({ body, principal }) => testRetryPolicy(deps, principal, body));
}
