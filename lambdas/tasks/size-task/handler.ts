import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { sizeTask } from '#core/tasks/size-task.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step SizeTask: a scouted task's rest sized from its scouts (once) and handed to dispatch. */
export function createHandler(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'policies' | 'queue' | 'clock' | 'accounting'>,
) {
  return workflowHandler('size-task', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    sizeTask(deps, taskId),
  );
}
