import { z } from 'zod';
import type { ResourceClass } from '../jobs/resource-class.ts';
import { ProvisioningSchema } from '../provisioning/cloud-site.ts';
import type { ProvisioningDecision } from '../provisioning/provisioning-decision.ts';
import { InputFileSchema, PayloadSchema } from '../tasks/task-spec.ts';
import { ArchSchema, DEFAULT_ARCH, SiteIdSchema, SiteTagSchema } from './site-id.ts';

// Defined apart so task specs can name sites without importing this module (which imports them).
export { ArchSchema, DEFAULT_ARCH, SiteIdSchema, SiteTagSchema };

export const SITE_STATUSES = ['online', 'offline', 'test'] as const;
export type SiteStatus = (typeof SITE_STATUSES)[number];

/**
 * Site health's automatic exclusion of this site (HammerCloud's): the global defaults apply where a
 * field is left out. `auto: false` leaves the site's status to operators alone.
 */
export const SiteHealthSchema = z.strictObject({
  auto: z.boolean().default(true),
  /** Infrastructure failures of all recent attempt ends above which the site goes to `test`. */
  maxInfraFailureFraction: z.number().min(0).max(1).optional(),
  /** Recent attempt ends (and failed node checks) needed before the fraction is judged. */
  minAttempts: z.number().int().min(1).max(1_000_000).optional(),
});
export type SiteHealth = z.infer<typeof SiteHealthSchema>;

/**
 * The test task site health sends to this site while it is in `test` (HammerCloud's test jobs):
 * `jobs` jobs of `payload`, each staging in `inputs` (objects under `inputs/` or `s3://` URLs,
 * verified by size and adler32 as any input), run with a small slot. By default each job checks
 * that its work directory, where inputs are staged, is writable.
 */
export const SiteTestSchema = z.strictObject({
  jobs: z.number().int().min(1).max(20).default(2),
  /** As a task's payload, without a sandbox (nothing uploads one for site health). */
  payload: PayloadSchema.omit({ sandbox: true }).default({
    command: 'sh',
    args: ['-c', 'test -w "$GLUON_WORK_DIR"'],
    env: {},
  }),
  inputs: z.array(InputFileSchema).max(10).default([]),
  /** After a failed test task, the next one waits this long, doubled per failure in a row (at most ×8). */
  backoffSec: z.number().int().min(1).max(86_400).default(300),
  /** A test task not ended after this long is cancelled, and counts as failed. */
  timeoutSec: z.number().int().min(10).max(604_800).default(3600),
});
export type SiteTest = z.infer<typeof SiteTestSchema>;

/**
 * What accounting needs of a site: its CPUs' HEPscore23 per core (WLCG's benchmark), which turns
 * CPU time into normalised HS23 seconds (APEL's normalised CPU). Left out: usage is not normalised.
 */
export const SiteAccountingSchema = z.strictObject({
  hs23PerCore: z.number().positive().max(1000),
});
export type SiteAccounting = z.infer<typeof SiteAccountingSchema>;

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
   * to this in fair-share order and keeps the rest back. Left out: twice maxPilots, at least 100.
   */
  maxQueued: z.number().int().min(0).max(100_000).optional(),
  /** What the site offers beyond resources; a task's resources.tags must all be here. */
  tags: z.array(SiteTagSchema).max(64).default([]),
  health: SiteHealthSchema.optional(),
  test: SiteTestSchema.optional(),
  accounting: SiteAccountingSchema.optional(),
  /** How a `cloud` site gets its pilots (EC2 Fleet or AWS Batch); left out, pilots are started by others. */
  provisioning: ProvisioningSchema.optional(),
});
export type Site = z.infer<typeof SiteSchema>;
export type SiteInput = z.input<typeof SiteSchema>;

/** Live pilots of a site by state: the census the reaper takes of the pilot leases at each sweep. */
export interface PilotCensus {
  starting: number;
  idle: number;
  busy: number;
  draining: number;
  /** Live pilots that can run each resource class (by the resources they registered). */
  classes?: Partial<Record<ResourceClass, number>>;
  /** Of those, the idle or starting ones (what covers queued jobs of the class, for pilot demand). */
  idleClasses?: Partial<Record<ResourceClass, number>>;
}

export function emptyCensus(): PilotCensus {
  return { starting: 0, idle: 0, busy: 0, draining: 0 };
}

export function livePilots(census: PilotCensus): number {
  return census.starting + census.idle + census.busy + census.draining;
}

/** Who changes a site's status: site health, or an operator (`operator:<subject>`). */
export const SITE_HEALTH = 'site-health';

/** One change of a site's status, as its history keeps it (`from` absent: the site was defined). */
export interface StatusChange {
  at: string;
  from?: SiteStatus;
  to: SiteStatus;
  reason: string;
  by: string;
}

/** The test task site health sent to a site in test; `failedAt` once it ended without success. */
export interface TestTaskState {
  taskId: string;
  sentAt: string;
  /** Test tasks that failed in a row before this one (this one included once `failedAt` is set). */
  failures: number;
  failedAt?: string;
}

/**
 * A stored site: its definition, the last census of its pilots (absent before the first sweep),
 * its last status change (the bounded history is apart: SiteStore.history), a version every status
 * change bumps (the fence of status writes; absent: 0) and the test task site health sent.
 */
export interface SiteRecord extends Site {
  census?: { pilots: PilotCensus; at: string };
  statusChange?: StatusChange;
  statusVersion?: number;
  testTask?: TestTaskState;
  /** The provisioner's last decision for a site with provisioning (kept by put, like the census). */
  provisioned?: ProvisioningDecision;
}

/** Where a status write expects a site: absent, or at this status and status version. */
export type StatusExpectation = 'absent' | { status: SiteStatus; version: number };

export function statusExpectation(site: SiteRecord | undefined): StatusExpectation {
  return site === undefined ? 'absent' : { status: site.status, version: site.statusVersion ?? 0 };
}

/**
 * Jobs a site's queues hold at most (dispatch tops them up to it): its maxQueued, else twice its
 * pilots and at least 100 (PanDA's queue limits are of that order): enough that pilots do not
 * idle between dispatch rounds, few enough that the order stays live.
 */
export function maxQueuedOf(site: Pick<Site, 'maxQueued' | 'maxPilots'>): number {
  return site.maxQueued ?? Math.max(100, 2 * site.maxPilots);
}
