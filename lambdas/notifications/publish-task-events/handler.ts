import middy from '@middy/core';
import { changesOf } from '#adapters/dynamodb/change-feed.ts';
import { closeEndedTasksDatasets } from '#core/catalog/register-outputs.ts';
import type { Deps } from '#core/deps.ts';
import { wakeMetaTasksOfEndedTasks } from '#core/meta-tasks/advance-meta-task.ts';
import { publishTaskEvents, type TaskItemChange } from '#core/notifications/publish-task-events.ts';
import { count, logger, powertools } from '../../runtime/powertools.ts';

/**
 * The tasks table's change feed (on AWS filtered to head items): each task state change goes to
 * the event bus. A failure throws, so the batch comes again; consumers dedupe on the event id.
 * The answer carries a `state` because of the tumbling window the mapping uses (see record-job-changes).
 */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'events' | 'catalog' | 'clock' | 'metaTasks' | 'metaTaskWorkflow'>,
) {
  return powertools(middy<unknown, { state: Record<string, string> }>())
    .onError(async (request) => {
      logger.error('task events not published; the batch will come again', {
        error:
          request.error instanceof Error
            ? `${request.error.name}: ${request.error.message}`
            : String(request.error),
      });
    })
    .handler(async (event) => {
      const changes = changesOf<NonNullable<TaskItemChange['after']>>(event, 'task');
      const { published } = await publishTaskEvents(deps, changes);
      // The catalog's hook on task ends (issue 11): the task's output dataset is closed.
      const { closed } = await closeEndedTasksDatasets(deps, changes as never);
      if (closed > 0) logger.debug('output datasets closed', { closed });
      if (published > 0) {
        logger.debug('task events published', { published });
        count('TaskEventsPublished', published);
      }
      // The one place that sees every task end: a meta-task node's task ending wakes its meta-task.
      await wakeMetaTasksOfEndedTasks(deps, changes);
      return { state: {} };
    });
}
