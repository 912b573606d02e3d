import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { type InputGate, openInputGate, resolveInputs } from '#core/tasks/resolve-inputs.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/**
 * Workflow step ResolveInputs: a dataset task's files (filter applied) with their replicas stored
 * beside its spec, before the split and, for an open-ended task, after each wait for its jobs.
 */
export function createHandler(
  deps: Pick<
    Deps,
    'tasks' | 'catalog' | 'sites' | 'policies' | 'queue' | 'clock' | 'settings' | 'accounting'
  >,
  inputGate: InputGate = openInputGate,
) {
  return workflowHandler('resolve-inputs', z.object({ taskId: TaskIdSchema }), ({ taskId }) =>
    resolveInputs(deps, taskId, inputGate),
  );
}
