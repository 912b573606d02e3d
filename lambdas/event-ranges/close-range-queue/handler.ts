import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { closeRangeQueue } from '#core/event-ranges/range-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step CloseRangeQueue: an ended event-service task's range queue and DLQ deleted. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'rangeQueue'>) {
  return workflowHandler('close-range-queue', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    closeRangeQueue(deps, taskId),
  );
}
