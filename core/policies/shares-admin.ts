import type { PutSharesRequest, SharesView } from '../api/policies.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError } from '../errors.ts';
import { DEFAULT_SHARE_TREE, decayedValue, parseShareTree } from './shares.ts';

/** The share tree in force, the decayed usage it is weighed against, and the tasks in dispatch. */
export async function getShares(deps: Pick<Deps, 'policies' | 'clock'>): Promise<SharesView> {
  const [stored, usage, active] = await Promise.all([
    deps.policies.getShares(),
    deps.policies.usage(),
    deps.policies.listActive(),
  ]);
  const tree = stored?.tree ?? DEFAULT_SHARE_TREE;
  const now = deps.clock.now().getTime();
  return {
    version: stored?.version ?? 0,
    ...(stored === undefined ? {} : { updatedAt: stored.updatedAt, updatedBy: stored.updatedBy }),
    tree,
    usage: [...usage]
      .map(([key, value]) => {
        const [kind, ...name] = key.split('#');
        return {
          kind: kind === 'group' ? ('group' as const) : ('user' as const),
          name: name.join('#'),
          usage: decayedValue(value, now, tree.halfLifeSec),
        };
      })
      .sort((a, b) => a.kind.localeCompare(b.kind) || b.usage - a.usage),
    dispatch: active.map((e) => ({
      taskId: e.taskId,
      owner: e.owner,
      priority: e.priority,
      jobCount: e.jobCount,
      released: e.released,
      paused: e.paused === true,
    })),
  };
}

/**
 * Sets the share tree (operators): checked whole (no cycle, shares adding up, known groups), then
 * stored as the next version; the next dispatch round orders by it, for jobs already submitted
 * too. Nothing is written when it is refused.
 */
export async function putShares(
  deps: Pick<Deps, 'policies' | 'clock'>,
  principal: Principal,
  body: PutSharesRequest,
): Promise<SharesView> {
  const { expectedVersion, ...definition } = body;
  const tree = parseShareTree(definition);
  const current = (await deps.policies.getShares())?.version ?? 0;
  if (expectedVersion !== undefined && expectedVersion !== current) {
    throw new ConflictError(`the shares are at version ${current}, not ${expectedVersion}: read them again`);
  }
  const written = await deps.policies.putShares(tree, {
    expectedVersion: current,
    at: deps.clock.now().toISOString(),
    by: principal.sub,
  });
  if (written === 'conflict') throw new ConflictError('the shares changed meanwhile: read them again');
  return getShares(deps);
}
