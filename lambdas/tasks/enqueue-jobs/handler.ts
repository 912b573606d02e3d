import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { enqueueJobs } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step EnqueueJobs: the task's jobs handed to dispatch, and a first dispatch round. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'queue' | 'clock' | 'policies' | 'sites' | 'accounting'>,
) {
  return workflowHandler(
    'enqueue-jobs',
    z.object({ taskId: TaskIdSchema, nextIndex: z.number().int().nonnegative() }),
    ({ taskId, nextIndex }) => enqueueJobs(deps, taskId, nextIndex),
  );
}
