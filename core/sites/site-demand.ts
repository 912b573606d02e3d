import type { SiteDemand } from '../api/sites.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import { assertSiteAllowed } from '../pilots/pilot-access.ts';
import { emptyCensus, livePilots } from './site.ts';

/**
 * How many pilots a site could use now, for its pilot factory: queued work not already covered by
 * idle or starting pilots, within the site's cap on live pilots. Zero for a site that is not
 * online, so nothing floods a site that cannot run jobs. Pilots are counted from the reaper's last
 * census (no scan per call); a factory adds the pilots it started that are not registered yet.
 */
export async function siteDemand(
  deps: Pick<Deps, 'sites' | 'queue'>,
  principal: Principal,
  siteId: string,
): Promise<SiteDemand> {
  assertSiteAllowed(principal, siteId);
  const site = await deps.sites.get(siteId);
  if (site === undefined) throw new NotFoundError(`site ${siteId} does not exist`);
  const queuedJobs = await deps.queue.depth(siteId);
  const pilots = site.census?.pilots ?? emptyCensus();
  const uncovered = queuedJobs - pilots.idle - pilots.starting;
  const room = site.maxPilots - livePilots(pilots);
  const pilotsWanted = site.status === 'online' ? Math.max(0, Math.min(uncovered, room)) : 0;
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
