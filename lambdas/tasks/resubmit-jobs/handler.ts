import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { resubmitJobs } from '#core/tasks/resubmit-task.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step ResubmitJobs: one page of the jobs of the owner's resubmit queued again. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'clock'>) {
  return workflowHandler(
    'resubmit-jobs',
    z.object({
      taskId: TaskIdSchema,
      nextIndex: z.number().int().nonnegative(),
      resubmitted: z.number().int().nonnegative(),
    }),
    ({ taskId, nextIndex, resubmitted }) => resubmitJobs(deps, taskId, nextIndex, resubmitted),
  );
}
