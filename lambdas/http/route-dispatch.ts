import type { Context } from 'aws-lambda';
import { OPERATIONS, type OperationId } from '#core/api/operations.ts';
import { type HttpEvent, type HttpResult, json } from './http-handler.ts';

export type RouteHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/**
 * One function serving several operations of a capability (CloudFormation's 500-resource limit):
 * API Gateway's `routeKey` (`GET /catalog/rules/{ruleId}`, the operation's method and path) picks
 * the operation's own thin handler.
 */
export function dispatchOnRouteKey(
  what: string,
  handlers: Partial<Record<OperationId, RouteHandler>>,
): RouteHandler {
  const byRoute = new Map<string, RouteHandler>(
    (Object.entries(handlers) as Array<[OperationId, RouteHandler]>).map(([id, handler]) => [
      `${OPERATIONS[id].method} ${OPERATIONS[id].path}`,
      handler,
    ]),
  );
  return async (event, context) => {
    const handler = byRoute.get(event.routeKey);
    if (handler === undefined) {
      return json(404, { error: { code: 'NOT_FOUND', message: `no ${what} operation ${event.routeKey}` } });
    }
    return handler(event, context);
  };
}
