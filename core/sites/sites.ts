import type { Page } from '../api/common.ts';
import type { PutSiteBody, SiteView } from '../api/sites.ts';
import type { Deps } from '../deps.ts';
import { ValidationError } from '../errors.ts';
import type { Site, SiteRecord } from './site.ts';

export function siteView(site: SiteRecord, queueUrl?: string): SiteView {
  const { census, ...definition } = site;
  return {
    ...definition,
    ...(queueUrl === undefined ? {} : { queueUrl }),
    ...(census === undefined ? {} : { pilots: census.pilots, censusAt: census.at }),
  };
}

/**
 * Defines or updates a site (the information system): its status, slot resources and pilot cap.
 * The site's job queue and DLQ are created first, so a site is never listed without its queue.
 * Setting a site offline stops brokerage to it and pilot factories from submitting pilots.
 */
export async function putSite(
  deps: Pick<Deps, 'sites' | 'queue'>,
  siteId: string,
  body: PutSiteBody,
): Promise<SiteView> {
  if (body.siteId !== undefined && body.siteId !== siteId) {
    throw new ValidationError('invalid site', [
      { field: 'siteId', message: `must be ${siteId} (the path) or left out` },
    ]);
  }
  const site: Site = { ...body, siteId };
  const { queueUrl } = await deps.queue.ensureSiteQueue(siteId);
  await deps.sites.put(site);
  return siteView({ ...site, ...(await currentCensus(deps, siteId)) }, queueUrl);
}

async function currentCensus(deps: Pick<Deps, 'sites'>, siteId: string): Promise<Pick<SiteRecord, 'census'>> {
  const census = (await deps.sites.get(siteId))?.census;
  return census === undefined ? {} : { census };
}

export async function listSites(deps: Pick<Deps, 'sites'>): Promise<Page<SiteView>> {
  const sites = (await deps.sites.list()).sort((a, b) => a.siteId.localeCompare(b.siteId));
  return { items: sites.map((site) => siteView(site)) };
}
