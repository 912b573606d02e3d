import type { Page, PageRequest } from '../api/common.ts';
import { SCOPES } from '../api/common.ts';
import type { MetaTaskNodeView, MetaTaskView } from '../api/meta-tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import type { MetaTask } from './meta-task.ts';
import { nodeOutputDataset } from './meta-task-spec.ts';

/**
 * The meta-task if the caller owns it (or, with `admin`, is an operator); another user's is
 * reported as missing, so ids cannot be probed.
 */
export async function ownedMetaTask(
  deps: Pick<Deps, 'metaTasks'>,
  principal: Principal,
  metaTaskId: string,
  options: { admin?: boolean } = {},
): Promise<MetaTask> {
  const m = await deps.metaTasks.get(metaTaskId);
  const allowed =
    m !== undefined &&
    (m.owner === principal.sub || (options.admin === true && principal.scopes.includes(SCOPES.admin)));
  if (!allowed) throw new NotFoundError(`meta-task ${metaTaskId} not found`);
  return m;
}

/** The API's view: nodes in topological order, each with its task's live job counts. */
export async function metaTaskView(deps: Pick<Deps, 'tasks'>, m: MetaTask): Promise<MetaTaskView> {
  const nodes = await Promise.all(
    m.order.map(async (name): Promise<MetaTaskNodeView> => {
      const node = m.nodes.find((n) => n.name === name);
      if (node === undefined) throw new RangeError(`meta-task ${m.metaTaskId} has no node ${name}`);
      const progress = node.taskId === undefined ? undefined : await deps.tasks.getProgress(node.taskId);
      const paused = m.state === 'paused' && node.state === 'running';
      return {
        name,
        type: node.type,
        state: paused ? 'paused' : node.state,
        ...(node.taskId === undefined ? {} : { taskId: node.taskId }),
        ...(progress === undefined ? {} : { jobCount: progress.jobCount, counts: progress.counts }),
        outputDataset: node.outputDataset ?? nodeOutputDataset(m.spec, name, m.owner),
        parents: m.edges.filter((e) => e.to === name).map((e) => e.from),
        ...(node.reason === undefined ? {} : { reason: node.reason }),
        history: node.history,
      };
    }),
  );
  return {
    metaTaskId: m.metaTaskId,
    name: m.name,
    owner: m.owner,
    shape: m.shape,
    state: m.state,
    nodes,
    edges: m.edges.map((e) => ({
      from: e.from,
      to: e.to,
      when: e.when,
      ...(e.minFraction === undefined ? {} : { minFraction: e.minFraction }),
    })),
    ...(m.reason === undefined ? {} : { reason: m.reason }),
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    ...(m.endedAt === undefined ? {} : { endedAt: m.endedAt }),
  };
}

export async function getMetaTask(
  deps: Pick<Deps, 'metaTasks' | 'tasks'>,
  principal: Principal,
  metaTaskId: string,
): Promise<MetaTaskView> {
  return metaTaskView(deps, await ownedMetaTask(deps, principal, metaTaskId, { admin: true }));
}

export async function listMetaTasks(
  deps: Pick<Deps, 'metaTasks'>,
  principal: Principal,
  page: PageRequest,
): Promise<
  Page<{ metaTaskId: string; name: string; state: MetaTask['state']; createdAt: string; nodes: number }>
> {
  const found = await deps.metaTasks.listByOwner(principal.sub, page);
  return {
    items: found.items.map((m) => ({
      metaTaskId: m.metaTaskId,
      name: m.name,
      state: m.state,
      createdAt: m.createdAt,
      nodes: m.nodes.length,
    })),
    ...(found.nextToken === undefined ? {} : { nextToken: found.nextToken }),
  };
}
