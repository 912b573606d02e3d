import type { Deps } from '../deps.ts';
import type { Attempt } from '../jobs/job.ts';
import { groupOf } from '../policies/fair-share.ts';
import { effectiveResources } from '../policies/retry-policy.ts';
import { DEFAULT_SHARE_TREE, type ShareTree } from '../policies/shares.ts';
import { isPaidSite } from '../provisioning/cloud-site.ts';
import { jobResources } from '../tasks/split-task.ts';
import { ResourcesSchema } from '../tasks/task-spec.ts';
import { type UsageRecord, usageRecordOf } from './usage.ts';

export interface EndedAttempt {
  taskId: string;
  jobIndex: number;
  attempt: Attempt;
}

/**
 * Writes the usage record of each ended attempt, with its roll-ups (the change feed calls this
 * with the attempts a batch ended). Each record is written at most once whatever the replays: a
 * duplicate is counted, not added. The task's owner and resources, the owner's group and the site's
 * HS23 factor are read once per batch. An attempt at a paid site (one with provisioning) costs its
 * wall time at its pilot's hourly price: the pilot is read once per batch; a pilot without a price
 * (registered without its cloud node) leaves the record without a cost. Other sites read no pilot.
 */
export async function recordUsage(
  deps: Pick<Deps, 'tasks' | 'sites' | 'policies' | 'accounting' | 'pilots'>,
  ended: EndedAttempt[],
): Promise<{ recorded: number; duplicates: number }> {
  if (ended.length === 0) return { recorded: 0, duplicates: 0 };
  const cache = new Map<string, Promise<unknown>>();
  const once = <V>(key: string, make: () => Promise<V>): Promise<V> => {
    let value = cache.get(key) as Promise<V> | undefined;
    if (value === undefined) {
      value = make();
      cache.set(key, value);
    }
    return value;
  };
  const tree = once(
    '#shares',
    async (): Promise<ShareTree> => (await deps.policies.getShares())?.tree ?? DEFAULT_SHARE_TREE,
  );
  const records: UsageRecord[] = [];
  for (const { taskId, jobIndex, attempt } of ended) {
    const [head, spec, site, shares] = await Promise.all([
      once(`head#${taskId}`, () => deps.tasks.getHead(taskId)),
      once(`spec#${taskId}`, () => deps.tasks.getSpec(taskId)),
      once(`site#${attempt.siteId}`, () => deps.sites.get(attempt.siteId)),
      tree,
    ]);
    // A task is never deleted while its jobs run; without one, the attempt is still accounted.
    const user = head?.owner ?? 'unknown';
    const resources = effectiveResources(
      spec === undefined ? ResourcesSchema.parse({}) : jobResources(spec, head?.sizing, jobIndex),
      attempt,
    );
    const hs23PerCore = site?.accounting?.hs23PerCore;
    const hourlyUsd =
      site !== undefined && isPaidSite(site)
        ? (await once(`pilot#${attempt.pilotId}`, () => deps.pilots.get(attempt.pilotId)))?.cost?.hourlyUsd
        : undefined;
    records.push(
      usageRecordOf(taskId, jobIndex, attempt, {
        user,
        group: groupOf(shares, user),
        resources,
        ...(hs23PerCore === undefined ? {} : { hs23PerCore }),
        ...(hourlyUsd === undefined ? {} : { hourlyUsd }),
      }),
    );
  }
  let recorded = 0;
  for (const record of records) if ((await deps.accounting.record(record)) === 'recorded') recorded++;
  return { recorded, duplicates: records.length - recorded };
}
