import { z } from 'zod';

/** Identifiers that end up in keys, queue names and S3 prefixes: keep them boring. */
export const SiteIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, at most 40 characters');

/** A CPU architecture as `uname -m` names it: `x86_64`, `aarch64`, `ppc64le`, … */
export const ArchSchema = z
  .string()
  .regex(/^[a-z0-9_]{1,32}$/, 'an architecture as uname -m names it, e.g. x86_64 or aarch64');

/** The architecture of a site's slots when the site does not say. */
export const DEFAULT_ARCH = 'x86_64';

/** A site's tag, or a job's required tag: what the site offers beyond resources (`cvmfs`, `apptainer`, …). */
export const SiteTagSchema = z.string().min(1).max(64);

export const SITE_STATUSES = ['online', 'offline', 'test'] as const;
export type SiteStatus = (typeof SITE_STATUSES)[number];

export const SiteSchema = z.strictObject({
  siteId: SiteIdSchema,
  kind: z.enum(['local', 'grid', 'hpc', 'cloud']).default('local'),
  status: z.enum(SITE_STATUSES).default('online'),
  /** Resources of one slot (what one pilot can offer). */
  slot: z
    .strictObject({
      cores: z.number().int().min(1).default(1),
      memoryMB: z.number().int().min(16).default(2000),
      walltimeSec: z.number().int().min(60).default(86_400),
      diskMB: z.number().int().min(1).default(10_000),
      /** GPUs of one slot; left out: none. */
      gpus: z.number().int().min(0).max(64).optional(),
      /** The slots' CPU architecture; left out: x86_64 (DEFAULT_ARCH). */
      arch: ArchSchema.optional(),
    })
    .default({ cores: 1, memoryMB: 2000, walltimeSec: 86_400, diskMB: 10_000 }),
  /** Upper bound of pilots running at once at the site. */
  maxPilots: z.number().int().min(0).default(100),
  /**
   * Jobs waiting in the site's queues at most (PanDA's JobThrottler): dispatch tops the queues up
   * to this in fair-share order and keeps the rest back. Left out: as many as maxPilots, at least 10.
   */
  maxQueued: z.number().int().min(0).max(100_000).optional(),
  /** What the site offers beyond resources; a task's resources.tags must all be here. */
  tags: z.array(SiteTagSchema).max(64).default([]),
});
export type Site = z.infer<typeof SiteSchema>;
export type SiteInput = z.input<typeof SiteSchema>;

/** Live pilots of a site by state: the census the reaper takes of the pilot leases at each sweep. */
export interface PilotCensus {
  starting: number;
  idle: number;
  busy: number;
  draining: number;
}

export function emptyCensus(): PilotCensus {
  return { starting: 0, idle: 0, busy: 0, draining: 0 };
}

export function livePilots(census: PilotCensus): number {
  return census.starting + census.idle + census.busy + census.draining;
}

/** A stored site: its definition, and the last census of its pilots (absent before the first sweep). */
export interface SiteRecord extends Site {
  census?: { pilots: PilotCensus; at: string };
}

/** Jobs a site's queues hold at most: its maxQueued, else as many as maxPilots, at least 10. */
export function maxQueuedOf(site: Pick<Site, 'maxQueued' | 'maxPilots'>): number {
  return site.maxQueued ?? Math.max(site.maxPilots, 10);
}
