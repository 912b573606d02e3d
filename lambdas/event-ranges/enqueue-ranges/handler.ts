import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { enqueueRanges } from '#core/event-ranges/range-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step EnqueueRanges: the task's range queue made, one page of ranges sent. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'rangeQueue' | 'clock' | 'settings'>) {
  return workflowHandler(
    'enqueue-ranges',
    z.object({ taskId: TaskIdSchema, nextRange: z.number().int().nonnegative() }),
    ({ taskId, nextRange }) => enqueueRanges(deps, taskId, nextRange),
  );
}
