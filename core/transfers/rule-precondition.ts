import { type Did, didText, parseDid } from '../catalog/did.ts';
import { createRule, type RuleDeps } from './manage-rules.ts';
import { preconditionRuleId, type RuleCounters } from './rule.ts';

export interface RulePreconditionInput {
  taskId: string;
  owner: string;
  /** `scope:name` of the task's input dataset. */
  dataset: string;
  rule: { endpoints: string[]; copies?: number | undefined };
}

export interface RulePreconditionAnswer {
  /** Every file of the dataset has an available replica at one of the rule's endpoints. */
  ready: boolean;
  ruleId: string;
  progress: RuleCounters;
  /** Why not ready (or that it is). */
  reason: string;
}

const PAGE = 1000;
const REPLICA_BATCH = 100;

/**
 * A task's input staged first (PanDA's data carousel, simplest form): makes, once, the rule of the
 * task's input dataset on the given endpoints (its id derived from the task's, so asking again
 * finds it), and answers whether every file of the dataset has an available replica at one of
 * them. The rule is the system's, made for the task's owner, who may only read the dataset.
 */
export async function rulePrecondition(
  deps: RuleDeps,
  input: RulePreconditionInput,
): Promise<RulePreconditionAnswer> {
  const ruleId = preconditionRuleId(input.taskId);
  const rule = await createRule(
    deps,
    { sub: input.owner, scopes: [] },
    { did: input.dataset, copies: input.rule.copies ?? 1, endpoints: input.rule.endpoints },
    { ruleId, taskId: input.taskId, system: true },
  );
  const endpoints = new Set(input.rule.endpoints);
  const missing = await filesWithoutReplicaAt(deps, parseDid(input.dataset), endpoints);
  const progress = { ...rule.counters };
  if (missing.count === 0) {
    return {
      ready: true,
      ruleId,
      progress,
      reason: `every file of ${input.dataset} is at ${[...endpoints].join(', ')}`,
    };
  }
  const state =
    rule.state === 'stuck' ? ` (rule ${ruleId} is stuck: ${rule.counters.failed} transfer(s) given up)` : '';
  return {
    ready: false,
    ruleId,
    progress,
    reason: `${missing.count} of ${missing.files} file(s) of ${input.dataset} not yet at ${[...endpoints].join(', ')}, e.g. ${missing.example}${state}`,
  };
}

async function filesWithoutReplicaAt(
  deps: Pick<RuleDeps, 'catalog'>,
  dataset: Did,
  endpoints: ReadonlySet<string>,
): Promise<{ files: number; count: number; example?: string }> {
  let files = 0;
  let count = 0;
  let example: string | undefined;
  let nextToken: string | undefined;
  do {
    const page = await deps.catalog.listFiles(dataset, { limit: PAGE, ...(nextToken ? { nextToken } : {}) });
    files += page.items.length;
    for (let i = 0; i < page.items.length; i += REPLICA_BATCH) {
      const batch = page.items.slice(i, i + REPLICA_BATCH);
      const replicas = await deps.catalog.replicasOf(batch);
      for (const file of batch) {
        const at = (replicas.get(didText(file)) ?? []).some(
          (r) => r.state === 'available' && endpoints.has(r.endpointId),
        );
        if (!at) {
          count += 1;
          example ??= didText(file);
        }
      }
    }
    nextToken = page.items.length > 0 ? page.nextToken : undefined;
  } while (nextToken !== undefined);
  return { files, count, ...(example === undefined ? {} : { example }) };
}
