import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { mergeRanges } from '#core/event-ranges/range-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step MergeRanges: after the consumers, the merge jobs added and sent (once). */
export function createHandler(deps: Pick<Deps, 'tasks' | 'queue' | 'clock'>) {
  return workflowHandler('merge-ranges', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    mergeRanges(deps, taskId),
  );
}
