import { z } from 'zod';
import { SiteIdSchema } from '../tasks/task-spec.ts';

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
    })
    .default({ cores: 1, memoryMB: 2000, walltimeSec: 86_400, diskMB: 10_000 }),
  /** Upper bound of pilots running at once at the site. */
  maxPilots: z.number().int().min(0).default(100),
  tags: z.array(z.string().max(64)).max(64).default([]),
});
export type Site = z.infer<typeof SiteSchema>;
export type SiteInput = z.input<typeof SiteSchema>;
