/** The site routes' bodies and answers: define, list, demand. */
import { z } from 'zod';
import { SITE_STATUSES, SiteSchema } from '../sites/site.ts';
import { pageOf, TimeSchema } from './common.ts';

const SlotSchema = z.object({
  cores: z.number().int(),
  memoryMB: z.number().int(),
  walltimeSec: z.number().int(),
  diskMB: z.number().int(),
});

const CensusSchema = z.object({
  starting: z.number().int(),
  idle: z.number().int(),
  busy: z.number().int(),
  draining: z.number().int(),
});

/** The body of PUT /sites/{siteId}: a site definition; `siteId`, when given, must be the path's. */
export const PutSiteRequestSchema = SiteSchema.partial({ siteId: true });
export type PutSiteRequest = z.input<typeof PutSiteRequestSchema>;
export type PutSiteBody = z.infer<typeof PutSiteRequestSchema>;

export const SiteViewSchema = z.object({
  siteId: z.string(),
  kind: z.enum(['local', 'grid', 'hpc', 'cloud']),
  status: z.enum(SITE_STATUSES),
  slot: SlotSchema,
  maxPilots: z.number().int(),
  maxQueued: z.number().int().optional(),
  tags: z.array(z.string()),
  queueUrl: z.string().optional(),
  /** Live pilots by state at the last sweep of the reaper. */
  pilots: CensusSchema.optional(),
  censusAt: TimeSchema.optional(),
});
export type SiteView = z.infer<typeof SiteViewSchema>;

export const SitePageSchema = pageOf(SiteViewSchema);

/** What a site's pilot factory needs to decide how many pilots to submit. */
export const SiteDemandSchema = z.object({
  siteId: z.string(),
  status: z.enum(SITE_STATUSES),
  /** Job messages waiting in the site's queue (approximate, from SQS). */
  queuedJobs: z.number().int(),
  /** Live pilots of the site by state, at the reaper's last census. */
  pilots: CensusSchema,
  maxPilots: z.number().int(),
  /** Pilots the site could use now: queued work not covered by idle or starting pilots, within maxPilots. */
  pilotsWanted: z.number().int(),
  slot: SlotSchema,
});
export type SiteDemand = z.infer<typeof SiteDemandSchema>;
