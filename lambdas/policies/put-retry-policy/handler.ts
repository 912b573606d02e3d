import type { Deps } from '#core/deps.ts';
import { putRetryPolicy } from '#core/policies/retry-policy-versions.ts';
import { httpHandler } from '../../http/http-handler.ts';

/** PUT /retry-policy — new retry rules, as the next version (operators). */
export function createHandler(deps: Pick<Deps, 'retryPolicies' | 'clock'>) {
  return httpHandler('putRetryPolicy', ({ body, principal }) => putRetryPolicy(deps, principal, body));
}
