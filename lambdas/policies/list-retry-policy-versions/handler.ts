import type { Deps } from '#core/deps.ts';
import { listRetryPolicyVersions } from '#core/policies/retry-policy-versions.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** GET /retry-policy/versions — the retry rules' versions, newest first. */
export function createHandler(deps: Pick<Deps, 'retryPolicies'>) {
  return httpHandler('listRetryPolicyVersions', ({ query }) => listRetryPolicyVersions(deps, query));
}
