import { z } from 'zod';
import { SiteIdSchema } from '../tasks/task-spec.ts';

/**
 * starting: registered, not yet polling; idle/busy: without/with a job; draining: asked to stop
 * (SIGTERM), ending its job; exited: gone cleanly; lost: silent for too long; unhealthy: failed its
 * node checks at registration and took no work.
 */
export const PILOT_STATES = ['starting', 'idle', 'busy', 'draining', 'exited', 'lost', 'unhealthy'] as const;
export type PilotState = (typeof PILOT_STATES)[number];

/** What a pilot offers, sent at registration. A job it takes must fit this. */
export const PilotResourcesSchema = z.strictObject({
  cores: z.number().int().min(1).max(4096),
  memoryMB: z.number().int().min(1),
  diskMB: z.number().int().min(0),
  walltimeLeftSec: z.number().int().min(0),
  /** `x86_64`, `aarch64`, … */
  arch: z.string().max(32).optional(),
  /** e.g. `linux debian 12` */
  os: z.string().max(128).optional(),
  gpus: z.number().int().min(0).max(64).optional(),
  tags: z.array(z.string().max(64)).max(64).optional(),
});

/** One node check done by the pilot before it takes work (free disk, memory, CVMFS, clock, token…). */
export const HealthCheckSchema = z.strictObject({
  name: z.string().min(1).max(64),
  ok: z.boolean(),
  /** What was measured, e.g. `12.3 GB free` or `skew 0.4 s`. */
  value: z.string().max(256).optional(),
  message: z.string().max(1024).optional(),
});
export type HealthCheck = z.infer<typeof HealthCheckSchema>;
export type PilotResources = z.infer<typeof PilotResourcesSchema>;

export const PilotRegistrationSchema = z.strictObject({
  siteId: SiteIdSchema,
  host: z.string().min(1).max(255),
  pid: z.number().int().positive(),
  version: z.string().max(64).default('dev'),
  resources: PilotResourcesSchema,
  batchId: z.string().max(128).optional(),
  /** Results of the node checks; a pilot with a failed check registers as unhealthy and takes no work. */
  health: z.array(HealthCheckSchema).max(32).optional(),
});
export type PilotRegistration = z.infer<typeof PilotRegistrationSchema>;

export interface Pilot extends PilotRegistration {
  pilotId: string;
  state: PilotState;
  registeredAt: string;
  lastHeartbeatAt: string;
  jobsRun: number;
  currentJobId?: string;
}
