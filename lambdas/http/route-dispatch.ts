import type { Context } from 'aws-lambda';
import { OPERATIONS, type OperationId } from '#core/api/operations.ts';
import { type HttpEvent, type HttpResult, json } from './http-handler.ts';

type OperationHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/**
 * One function serving several operations (a capability's API behind one Lambda, for
 * CloudFormation's resource limit): the event's routeKey (`POST /catalog/datasets`, as API Gateway
 * and the local API write it) picks the operation's own handler, which parses, runs its use case
 * and maps as any single-operation function does.
 */
export function routeDispatcher(
  handlers: Partial<Record<OperationId, OperationHandler>>,
): (event: HttpEvent, context: Context) => Promise<HttpResult> {
  const byRoute = new Map<string, OperationHandler>();
  for (const [id, handler] of Object.entries(handlers) as Array<[OperationId, OperationHandler]>) {
    const op = OPERATIONS[id];
    byRoute.set(`${op.method} ${op.path}`, handler);
  }
  return async (event, context) => {
    const handler = byRoute.get(event.routeKey);
    if (handler === undefined) {
      return json(404, { error: { code: 'NOT_FOUND', message: `no operation for ${event.routeKey}` } });
    }
    return handler(event, context);
  };
}
