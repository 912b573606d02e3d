import type { SiteDemand } from '../api/sites.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import { classesFitting } from '../jobs/resource-class.ts';
import { assertSiteAllowed } from '../pilots/pilot-access.ts';
import { emptyCensus, livePilots, type SiteRecord, SiteTestSchema } from './site.ts';

/** Live pilots a site may have by its status: none offline; in test, one per job of a test task running. */
function pilotCap(site: SiteRecord): number {
  if (site.status === 'online') return site.maxPilots;
  if (site.status === 'offline' || site.testTask === undefined || site.testTask.failedAt !== undefined)
    return 0;
  return (site.test ?? SiteTestSchema.parse({})).jobs;
}

/**
 * How many pilots a site could use now, for its pilot factory: queued work not already covered by
 * idle or starting pilots, within the site's cap on live pilots. Zero for an offline site, so
 * nothing floods a site that cannot run jobs. A site in test gets pilots only for the test task site
 * health sent it, at most one per test job. Pilots are counted from the reaper's last census (no
 * scan per call); a factory adds the pilots it started that are not registered yet.
 */
export async function siteDemand(
  deps: Pick<Deps, 'sites' | 'queue'>,
  principal: Principal,
  siteId: string,
): Promise<SiteDemand> {
  assertSiteAllowed(principal, siteId);
  const site = await deps.sites.get(siteId);
  if (site === undefined) throw new NotFoundError(`site ${siteId} does not exist`);
  // Only the classes the site's slots can run: nothing else is ever sent there.
  const queuedJobs = await deps.queue.depth(siteId, classesFitting(site.slot));
  const pilots = site.census?.pilots ?? emptyCensus();
  const uncovered = queuedJobs - pilots.idle - pilots.starting;
  const room = Math.min(site.maxPilots, pilotCap(site)) - livePilots(pilots);
  const pilotsWanted = Math.max(0, Math.min(uncovered, room));
  return {
    siteId,
    status: site.status,
    queuedJobs,
    pilots,
    maxPilots: site.maxPilots,
    pilotsWanted,
    slot: site.slot,
  };
}
