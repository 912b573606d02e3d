import { resourceMisfit } from '../sites/resource-fit.ts';
import type { Site } from '../sites/site.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';

export interface BrokerageResult {
  siteIds: string[];
  /** Why each rejected site was rejected (for "why is my task not running"). */
  rejected: Array<{ siteId: string; reason: string }>;
}

/**
 * The site filter chain of brokerage: status, allow/deny lists, resources of one slot. Survivors
 * are returned in a stable order; jobs are spread over them by index.
 */
export function brokerTask(spec: TaskSpec, sites: Site[]): BrokerageResult {
  const rejected: BrokerageResult['rejected'] = [];
  const siteIds: string[] = [];
  const { resources } = spec;
  for (const site of [...sites].sort((a, b) => a.siteId.localeCompare(b.siteId))) {
    const reason = rejection(spec, site, resources);
    if (reason === undefined) siteIds.push(site.siteId);
    else rejected.push({ siteId: site.siteId, reason });
  }
  return { siteIds, rejected };
}

function rejection(spec: TaskSpec, site: Site, r: TaskSpec['resources']): string | undefined {
  // A site in test takes only its test tasks, and they go nowhere else.
  if (spec.siteTest === true && site.status !== 'test') return 'test tasks go only to sites in test';
  if (site.status !== 'online' && !(site.status === 'test' && spec.siteTest === true))
    return `site is ${site.status}`;
  if (spec.sites.allow !== undefined && !spec.sites.allow.includes(site.siteId)) return 'not in sites.allow';
  if (spec.sites.deny.includes(site.siteId)) return 'in sites.deny';
  return resourceMisfit(r, site.slot, 'slots have');
}

export function describeNoSite(result: BrokerageResult): string {
  if (result.rejected.length === 0) return 'no site is defined';
  return `no site can run the jobs: ${result.rejected.map((r) => `${r.siteId} (${r.reason})`).join(', ')}`;
}
