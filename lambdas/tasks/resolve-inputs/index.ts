import { ruleGate } from '#core/tasks/resolve-inputs.ts';
import { productionDeps } from '../../runtime/deps.ts';
import { createHandler } from './handler.ts';

const deps = productionDeps();
// `inputs.rule`: the task's inputs are replicated to the rule's endpoints before its jobs are released.
export const handler = createHandler(deps, ruleGate(deps));
