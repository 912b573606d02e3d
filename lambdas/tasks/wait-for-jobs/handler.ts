import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { waitForJobs } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step WaitForJobs (.waitForTaskToken): stores the token bookkeeping returns later. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'workflow'>) {
  return workflowHandler(
    'wait-for-jobs',
    z.object({ taskId: TaskIdSchema, taskToken: z.string().min(1) }),
    async ({ taskId, taskToken }) => {
      await waitForJobs(deps, taskId, taskToken);
      return { taskId };
    },
  );
}
