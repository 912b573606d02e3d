import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { finalizeTask } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step FinalizeTask: done, partial, failed or cancelled from the job counts. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'clock'>) {
  return workflowHandler('finalize-task', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    finalizeTask(deps, taskId),
  );
}
