import type { Deps } from '#core/deps.ts';
import { createRule, getRule, listRules, removeRule } from '#core/transfers/manage-rules.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';
import { routeDispatcher } from '../../http/route-dispatch.ts';

export type RulesApiDeps = Pick<
  Deps,
  'catalog' | 'rules' | 'ruleIds' | 'transferQueue' | 'transfers' | 'clock'
>;

/**
 * The rules' routes as one function: POST /catalog/rules (a rule; its transfers queued),
 * GET /catalog/rules (the caller's, with progress), GET and DELETE /catalog/rules/{ruleId}.
 */
export function createHandler(deps: RulesApiDeps) {
  return routeDispatcher({
    addRule: httpHandler('addRule', ({ body, principal }) => createRule(deps, principal, body)),
    listRules: httpHandler('listRules', ({ query, principal }) =>
      withPageToken(() => listRules(deps, principal, query)),
    ),
    getRule: httpHandler('getRule', ({ params, principal }) => getRule(deps, principal, params.ruleId)),
    removeRule: httpHandler('removeRule', ({ params, principal }) =>
      removeRule(deps, principal, params.ruleId),
    ),
  });
}
