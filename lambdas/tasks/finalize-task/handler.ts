import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { finalizeTask } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step FinalizeTask: done, partial, failed or cancelled from the job (or range) counts. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'clock' | 'policies'>) {
  return workflowHandler('finalize-task', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    finalizeTask(deps, taskId),
  );
}
