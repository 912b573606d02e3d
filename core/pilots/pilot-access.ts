import type { Principal } from '../deps.ts';
import { ForbiddenError } from '../errors.ts';

/** Pilot tokens name their site (`pilot:<siteId>`, or `pilot:*` for any); a pilot may only act for that site. */
export function pilotSiteOf(principal: Principal): string | undefined {
  if (!principal.sub.startsWith('pilot:')) return undefined;
  const site = principal.sub.slice('pilot:'.length);
  return site === '*' ? undefined : site;
}

export function assertSiteAllowed(principal: Principal, siteId: string): void {
  const site = pilotSiteOf(principal);
  if (site !== undefined && site !== siteId) {
    throw new ForbiddenError(`this pilot token is for site ${site}, not ${siteId}`);
  }
}
