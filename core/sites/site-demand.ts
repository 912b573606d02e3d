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
 * idle or starting pilots (an idle pilot covers only jobs of the classes it can run: the work of
 * a class no idle pilot runs is uncovered), within the site's cap on live pilots. Zero for an offline site, so
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
  return demandOf(deps, site);
}

/** The demand of a site already read (the cloud provisioner reads them all with one list). */
export async function demandOf(deps: Pick<Deps, 'queue'>, site: SiteRecord): Promise<SiteDemand> {
  const { siteId } = site;
  // Only the classes the site's slots can run: nothing else is ever sent there.
  const classes = classesFitting(site.slot);
  const depths = await Promise.all(classes.map((c) => deps.queue.depth(siteId, [c])));
  const queuedByClass = Object.fromEntries(classes.map((c, i) => [c, depths[i] ?? 0]));
  const queuedJobs = depths.reduce((n, d) => n + d, 0);
  const pilots = site.census?.pilots ?? emptyCensus();
  let uncovered = queuedJobs - pilots.idle - pilots.starting;
  // Idle pilots cover only the classes they can run (pilots of different sizes at one site).
  const idleClasses = pilots.idleClasses;
  if (idleClasses !== undefined)
    for (const c of classes) uncovered = Math.max(uncovered, (queuedByClass[c] ?? 0) - (idleClasses[c] ?? 0));
  const room = Math.min(site.maxPilots, pilotCap(site)) - livePilots(pilots);
  const pilotsWanted = Math.max(0, Math.min(uncovered, room));
  return {
    siteId,
    status: site.status,
    queuedJobs,
    queuedByClass,
    pilots,
    maxPilots: site.maxPilots,
    pilotsWanted,
    slot: site.slot,
  };
}
