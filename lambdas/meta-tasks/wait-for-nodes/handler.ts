import { z } from 'zod';
import { MetaTaskIdSchema } from '#core/api/meta-tasks.ts';
import type { Deps } from '#core/deps.ts';
import { waitForNodes } from '#core/meta-tasks/advance-meta-task.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Meta-task workflow step WaitForNodes (.waitForTaskToken): stores the token a node's task end returns. */
export function createHandler(deps: Pick<Deps, 'metaTasks' | 'metaTaskWorkflow' | 'tasks' | 'clock'>) {
  return workflowHandler(
    'wait-for-nodes',
    z.object({ metaTaskId: MetaTaskIdSchema, taskToken: z.string().min(1) }),
    async ({ metaTaskId, taskToken }) => {
      await waitForNodes(deps, metaTaskId, taskToken);
      return { metaTaskId };
    },
  );
}
