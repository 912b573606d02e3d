import type { Deps } from '../deps.ts';
import { classesFitting } from '../jobs/resource-class.ts';
import { bucketOf, type OutcomeCounts, outcomesFrom, totalOutcomes } from '../sites/site-outcomes.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { brokerTask, sitesPassingHardFilters } from './broker-task.ts';
import type { BrokerageDecision } from './brokerage-decision.ts';
import type { SiteFacts, SiteHealthFacts } from './site-filters.ts';

/** How far back brokerage looks at a site's outcomes: the last hour, as site health does. */
const RECENT_MS = 3_600_000;

/**
 * Gathers what brokerage looks at — every site with its last census, and for each site that
 * passes the hard filters (no one asks about a site that cannot run the jobs anyway) its queue
 * depth and its outcomes of the last hour as site health counts them (failure rate of every kind,
 * jobs finished a minute) — and brokers the task.
 */
export async function brokerSites(
  deps: Pick<Deps, 'sites' | 'queue'>,
  spec: TaskSpec,
  at: string,
): Promise<BrokerageDecision> {
  const facts: SiteFacts[] = (await deps.sites.list()).map((site) => ({ site }));
  const from = bucketOf(new Date(Date.parse(at) - RECENT_MS));
  const read = new Map(
    await Promise.all(
      sitesPassingHardFilters(spec, facts).map(async ({ site }) => {
        const [queuedJobs, outcomes] = await Promise.all([
          deps.queue.depth(site.siteId, classesFitting(site.slot)),
          deps.sites.outcomes(site.siteId),
        ]);
        return [site.siteId, { queuedJobs, recent: recentFacts(outcomesFrom(outcomes, from)) }] as const;
      }),
    ),
  );
  return brokerTask(
    spec,
    facts.map((f) => {
      const more = read.get(f.site.siteId);
      if (more === undefined) return f;
      const site = more.recent === undefined ? f.site : { ...f.site, recent: more.recent };
      return { ...f, site, queuedJobs: more.queuedJobs };
    }),
    at,
  );
}

/** The facts brokerage weighs from an hour of outcomes; none without outcomes. */
export function recentFacts(counts: OutcomeCounts): SiteHealthFacts | undefined {
  const attempts = totalOutcomes(counts);
  if (attempts === 0) return undefined;
  return {
    failureRate: (attempts - counts.finished) / attempts,
    attempts,
    finishedPerMin: counts.finished / (RECENT_MS / 60_000),
  };
}
