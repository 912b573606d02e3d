import type { SiteView } from '../api/contract.ts';
import type { Deps } from '../deps.ts';
import { fieldIssues, ValidationError } from '../errors.ts';
import { SiteSchema } from './site.ts';

/**
 * Defines or updates a site (the information system): its status, slot resources and pilot cap.
 * The site's job queue and DLQ are created first, so a site is never listed without its queue.
 * Setting a site offline stops brokerage to it and pilot factories from submitting pilots.
 */
export async function putSite(
  deps: Pick<Deps, 'sites' | 'queue'>,
  siteId: string,
  body: unknown,
): Promise<SiteView> {
  const input = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {};
  if ('siteId' in input && (input as { siteId: unknown }).siteId !== siteId) {
    throw new ValidationError('invalid site', [
      { field: 'siteId', message: `must be ${siteId} (the path) or left out` },
    ]);
  }
  const parsed = SiteSchema.safeParse({ ...input, siteId });
  if (!parsed.success) throw new ValidationError('invalid site', fieldIssues(parsed.error.issues));
  const { queueUrl } = await deps.queue.ensureSiteQueue(siteId);
  await deps.sites.put(parsed.data);
  return { ...parsed.data, queueUrl };
}

export async function listSites(deps: Pick<Deps, 'sites'>): Promise<SiteView[]> {
  return (await deps.sites.list()).sort((a, b) => a.siteId.localeCompare(b.siteId));
}
