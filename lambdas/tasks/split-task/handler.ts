import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { splitTask } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step SplitTask: brokerage, submitted → splitting; returns the enqueue progress. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'sites' | 'queue' | 'clock'>) {
  return workflowHandler('split-task', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    splitTask(deps, taskId),
  );
}
