import type { PilotCensus, Site, SiteRecord } from './site.ts';

export interface SiteStore {
  /** Defines or updates a site; its census is kept. */
  put(site: Site): Promise<void>;
  get(siteId: string): Promise<SiteRecord | undefined>;
  list(): Promise<SiteRecord[]>;
  /** The reaper's census of a site's live pilots. */
  recordCensus(siteId: string, pilots: PilotCensus, at: string): Promise<void>;
}
