import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { failTask } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

const ErrorSchema = z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional();

/** Workflow step FailTask: the catch-all; the task fails with the error that stopped it. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'clock' | 'policies'>) {
  return workflowHandler(
    'fail-task',
    z.object({ taskId: TaskIdSchema, error: ErrorSchema }),
    ({ taskId, error }) => failTask(deps, taskId, error),
  );
}
