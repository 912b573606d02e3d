import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { cancelJobs } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step CancelJobs: the pilots of one page of a cancelled task's running jobs are told to kill them. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'leases' | 'clock'>) {
  return workflowHandler(
    'cancel-jobs',
    z.object({ taskId: TaskIdSchema, nextIndex: z.number().int().nonnegative() }),
    ({ taskId, nextIndex }) => cancelJobs(deps, taskId, nextIndex),
  );
}
