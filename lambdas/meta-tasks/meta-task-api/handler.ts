import type { Context } from 'aws-lambda';
import type { OperationId } from '#core/api/operations.ts';
import type { Deps } from '#core/deps.ts';
import { getMetaTask, listMetaTasks } from '#core/meta-tasks/read-meta-tasks.ts';
import {
  cancelMetaTask,
  pauseMetaTask,
  resumeMetaTask,
  retryMetaTask,
} from '#core/meta-tasks/steer-meta-task.ts';
import { submitMetaTask } from '#core/meta-tasks/submit-meta-task.ts';
import { type HttpEvent, type HttpResult, httpHandler, withPageToken } from '../../http/http-handler.ts';
import { routeDispatcher } from '../../http/route-dispatch.ts';

export type MetaTaskApiDeps = Pick<
  Deps,
  'metaTasks' | 'metaTaskWorkflow' | 'tasks' | 'workflow' | 'clock' | 'ids' | 'policies'
>;

type RouteHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/** One thin handler per meta-task operation: parse (the operation's schemas), one use case, map. */
function operationHandlers(deps: MetaTaskApiDeps) {
  return {
    submitMetaTask: httpHandler('submitMetaTask', ({ body, principal }) =>
      submitMetaTask(deps, principal, body),
    ),
    listMetaTasks: httpHandler('listMetaTasks', ({ query, principal }) =>
      withPageToken(() => listMetaTasks(deps, principal, query)),
    ),
    getMetaTask: httpHandler('getMetaTask', ({ params, principal }) =>
      getMetaTask(deps, principal, params.metaTaskId),
    ),
    cancelMetaTask: httpHandler('cancelMetaTask', ({ params, principal }) =>
      cancelMetaTask(deps, principal, params.metaTaskId),
    ),
    pauseMetaTask: httpHandler('pauseMetaTask', ({ params, principal }) =>
      pauseMetaTask(deps, principal, params.metaTaskId),
    ),
    resumeMetaTask: httpHandler('resumeMetaTask', ({ params, principal }) =>
      resumeMetaTask(deps, principal, params.metaTaskId),
    ),
    retryMetaTask: httpHandler('retryMetaTask', ({ params, principal }) =>
      retryMetaTask(deps, principal, params.metaTaskId),
    ),
  } satisfies Partial<Record<OperationId, RouteHandler>>;
}

/**
 * The meta-task API as ONE function (CloudFormation's 500-resource limit): API Gateway's
 * `routeKey` (`POST /meta-tasks/{metaTaskId}/cancel`) picks the operation's handler.
 */
export function createHandler(deps: MetaTaskApiDeps): RouteHandler {
  return routeDispatcher(operationHandlers(deps));
}
