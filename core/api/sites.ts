/** The site routes' bodies and answers: define, list, one site with its history, demand. */
import { z } from 'zod';
import { ResourceClassSchema } from '../jobs/resource-class.ts';
import { ProvisioningSchema } from '../provisioning/cloud-site.ts';
import { ProvisioningDecisionSchema } from '../provisioning/provisioning-decision.ts';
import {
  SITE_STATUSES,
  SiteAccountingSchema,
  SiteHealthSchema,
  SiteSchema,
  SiteTestSchema,
} from '../sites/site.ts';
import { OUTCOME_KINDS } from '../sites/site-outcomes.ts';
import { TASK_STATES } from '../tasks/task.ts';
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
  /** Live pilots that can run each resource class (score, mcore, himem, gpu). */
  classes: z.partialRecord(ResourceClassSchema, z.number().int()).optional(),
  /** Of those, the idle or starting ones. */
  idleClasses: z.partialRecord(ResourceClassSchema, z.number().int()).optional(),
});

/**
 * The body of PUT /sites/{siteId}: a site definition; `siteId`, when given, must be the path's. A
 * status left out keeps the site's (a new site is online); `reason` is recorded with a status change.
 */
export const PutSiteRequestSchema = SiteSchema.partial({ siteId: true }).extend({
  status: z.enum(SITE_STATUSES).optional(),
  reason: z.string().min(1).max(500).optional(),
});
export type PutSiteRequest = z.input<typeof PutSiteRequestSchema>;
export type PutSiteBody = z.infer<typeof PutSiteRequestSchema>;

/** One change of a site's status: when, from what (absent: the site was defined), to what, why, by whom. */
export const StatusChangeSchema = z.object({
  at: TimeSchema,
  from: z.enum(SITE_STATUSES).optional(),
  to: z.enum(SITE_STATUSES),
  reason: z.string(),
  /** `site-health`, or `operator:<subject>`. */
  by: z.string(),
});

export const SiteViewSchema = z.object({
  siteId: z.string(),
  kind: z.enum(['local', 'grid', 'hpc', 'cloud']),
  status: z.enum(SITE_STATUSES),
  slot: SlotSchema,
  maxPilots: z.number().int(),
  maxQueued: z.number().int().optional(),
  tags: z.array(z.string()),
  health: SiteHealthSchema.optional(),
  test: SiteTestSchema.optional(),
  accounting: SiteAccountingSchema.optional(),
  /** How a cloud site gets its pilots: EC2 instance types, market, subnets and caps, or an AWS Batch job queue. */
  provisioning: ProvisioningSchema.optional(),
  /** A cloud site's last provisioning decision: its instances or pilot jobs, what was asked, why. */
  provisioned: ProvisioningDecisionSchema.optional(),
  queueUrl: z.string().optional(),
  /** Live pilots by state at the last sweep of the reaper. */
  pilots: CensusSchema.optional(),
  censusAt: TimeSchema.optional(),
  /** The last change of the site's status. */
  statusChange: StatusChangeSchema.optional(),
  /** The test task site health sent the site while it is in test. */
  testTask: z
    .object({
      taskId: z.string(),
      sentAt: TimeSchema,
      /** Test tasks failed in a row. */
      failures: z.number().int(),
      failedAt: TimeSchema.optional(),
      /** When the next test task is sent, after this one failed. */
      nextAt: TimeSchema.optional(),
      /** The task's state (GET /sites/{siteId} only). */
      state: z.enum(TASK_STATES).optional(),
    })
    .optional(),
});
export type SiteView = z.infer<typeof SiteViewSchema>;

/** GET /sites/{siteId}: the site, its recent outcomes as site health judges them, its status history. */
export const SiteDetailSchema = SiteViewSchema.extend({
  outcomes: z.object({
    /** Counted from here (site health's window, or the last status change when later). */
    from: TimeSchema,
    counts: z.object(
      Object.fromEntries(OUTCOME_KINDS.map((kind) => [kind, z.number().int()])) as {
        [K in (typeof OUTCOME_KINDS)[number]]: z.ZodNumber;
      },
    ),
    attempts: z.number().int(),
    infraFailures: z.number().int(),
  }),
  /** Status changes, oldest first (the last 100). */
  history: z.array(StatusChangeSchema),
});
export type SiteDetail = z.infer<typeof SiteDetailSchema>;

export const SitePageSchema = pageOf(SiteViewSchema);

/** GET /sites/{siteId}/provisioning: a cloud site's provisioning, its last decision and its noteworthy ones (oldest first, the last 50). */
export const SiteProvisioningSchema = z.object({
  siteId: z.string(),
  provisioning: ProvisioningSchema.optional(),
  last: ProvisioningDecisionSchema.optional(),
  history: z.array(ProvisioningDecisionSchema),
});
export type SiteProvisioning = z.infer<typeof SiteProvisioningSchema>;

/** What a site's pilot factory needs to decide how many pilots to submit. */
export const SiteDemandSchema = z.object({
  siteId: z.string(),
  status: z.enum(SITE_STATUSES),
  /** Job messages waiting in the site's queues (approximate, from SQS). */
  queuedJobs: z.number().int(),
  /** Of those, by resource class (the classes the site's slots can run). */
  queuedByClass: z.partialRecord(ResourceClassSchema, z.number().int()).optional(),
  /** Live pilots of the site by state, at the reaper's last census. */
  pilots: CensusSchema,
  maxPilots: z.number().int(),
  /**
   * Pilots the site could use now: queued work not covered by idle or starting pilots (of each
   * class: an idle pilot that cannot run a class covers none of its jobs), within maxPilots.
   */
  pilotsWanted: z.number().int(),
  slot: SlotSchema,
});
export type SiteDemand = z.infer<typeof SiteDemandSchema>;
