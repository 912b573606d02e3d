import type { Deps } from '../deps.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { brokerTask, sitesPassingHardFilters } from './broker-task.ts';
import type { BrokerageDecision } from './brokerage-decision.ts';
import type { SiteFacts } from './site-filters.ts';

/**
 * Gathers what brokerage looks at — every site with its last census (and health, when recorded),
 * and the queue depth of each site that passes the hard filters (no queue is asked about a site
 * that cannot run the jobs anyway) — and brokers the task.
 */
export async function brokerSites(
  deps: Pick<Deps, 'sites' | 'queue'>,
  spec: TaskSpec,
  at: string,
): Promise<BrokerageDecision> {
  const facts: SiteFacts[] = (await deps.sites.list()).map((site) => ({ site }));
  const depths = new Map(
    await Promise.all(
      sitesPassingHardFilters(spec, facts).map(
        async ({ site }) => [site.siteId, await deps.queue.depth(site.siteId)] as const,
      ),
    ),
  );
  return brokerTask(
    spec,
    facts.map((f) => {
      const queuedJobs = depths.get(f.site.siteId);
      return queuedJobs === undefined ? f : { ...f, queuedJobs };
    }),
    at,
  );
}
