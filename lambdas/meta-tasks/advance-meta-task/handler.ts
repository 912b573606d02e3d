import { z } from 'zod';
import { MetaTaskIdSchema } from '#core/api/meta-tasks.ts';
import type { Deps } from '#core/deps.ts';
import { advanceMetaTask, failMetaTask } from '#core/meta-tasks/advance-meta-task.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/**
 * Meta-task workflow step Advance: start ready nodes, skip those below a failure, say whether the
 * meta-task ended. With `error` (a step failed for good), the meta-task ends failed.
 */
export function createHandler(
  deps: Pick<Deps, 'metaTasks' | 'tasks' | 'workflow' | 'clock' | 'ids' | 'catalog'>,
) {
  return workflowHandler(
    'advance-meta-task',
    z.object({ metaTaskId: MetaTaskIdSchema, error: z.unknown().optional() }),
    ({ metaTaskId, error }) =>
      error === undefined
        ? advanceMetaTask(deps, metaTaskId)
        : failMetaTask(deps, metaTaskId, JSON.stringify(error).slice(0, 500)),
  );
}
