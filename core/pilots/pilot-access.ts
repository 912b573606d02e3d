import type { Principal } from '../deps.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors.ts';
import type { PilotStore } from '../ports.ts';
import type { Pilot } from './pilot.ts';

/** Pilot tokens name their site (`pilot:<siteId>`); a pilot may only act for that site. */
export function pilotSiteOf(principal: Principal): string | undefined {
  return principal.sub.startsWith('pilot:') ? principal.sub.slice('pilot:'.length) : undefined;
}

export function assertSiteAllowed(principal: Principal, siteId: string): void {
  const site = pilotSiteOf(principal);
  if (site !== undefined && site !== '*' && site !== siteId) {
    throw new ForbiddenError(`this pilot token is for site ${site}, not ${siteId}`);
  }
}

export async function knownPilot(pilots: PilotStore, principal: Principal, pilotId: string): Promise<Pilot> {
  const pilot = await pilots.get(pilotId);
  if (pilot === undefined) throw new NotFoundError(`pilot ${pilotId} not registered`);
  assertSiteAllowed(principal, pilot.siteId);
  return pilot;
}

/** States from which a pilot may not act any more: it must register again (no zombie pilots). */
const GONE: ReadonlySet<Pilot['state']> = new Set(['unhealthy', 'exited', 'lost']);

/** A registered pilot that is still live: an unhealthy, exited or lost pilot gets a ConflictError. */
export async function livePilot(pilots: PilotStore, principal: Principal, pilotId: string): Promise<Pilot> {
  const pilot = await knownPilot(pilots, principal, pilotId);
  if (GONE.has(pilot.state)) throw new ConflictError(`pilot ${pilotId} is ${pilot.state}; register again`);
  return pilot;
}
