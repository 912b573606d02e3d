import { z } from 'zod';
import type { ResourceClass } from '../jobs/resource-class.ts';
import { SiteIdSchema } from '../sites/site.ts';

/**
 * starting: registered, not yet polling; idle/busy: without/with a job; draining: asked to stop
 * (SIGTERM), ending its job; exited: gone cleanly; lost: its lease expired (no heartbeat);
 * unhealthy: failed its node checks at registration and took no work.
 */
export const PILOT_STATES = ['starting', 'idle', 'busy', 'draining', 'exited', 'lost', 'unhealthy'] as const;
export type PilotState = (typeof PILOT_STATES)[number];

/** The states of a live pilot: it heartbeats, and may claim jobs (not while draining) and report them. */
export const LIVE_PILOT_STATES = ['starting', 'idle', 'busy', 'draining'] as const;
export type LivePilotState = (typeof LIVE_PILOT_STATES)[number];

/** The live-pilot rule: one place decides which pilots may act. */
export function isLivePilotState(state: string): state is LivePilotState {
  return (LIVE_PILOT_STATES as readonly string[]).includes(state);
}

/** What a pilot offers, sent at registration and with every claim. A job it takes must fit this. */
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
export type PilotResources = z.infer<typeof PilotResourcesSchema>;

/** One node check done by the pilot before it takes work (free disk, memory, CVMFS, clock, token…). */
export const HealthCheckSchema = z.strictObject({
  name: z.string().min(1).max(64),
  ok: z.boolean(),
  /** What was measured, e.g. `12.3 GB free` or `skew 0.4 s`. */
  value: z.string().max(256).optional(),
  message: z.string().max(1024).optional(),
});
export type HealthCheck = z.infer<typeof HealthCheckSchema>;

/**
 * Where a cloud pilot runs, as it read it from the instance metadata (EC2) or its job's environment
 * (AWS Batch). The API prices the pilot from it at registration (Pilot.cost).
 */
export const CloudNodeSchema = z.strictObject({
  provider: z.enum(['ec2', 'batch']),
  instanceId: z.string().min(1).max(64).optional(),
  instanceType: z.string().min(1).max(64).optional(),
  market: z.enum(['spot', 'on-demand']).optional(),
  availabilityZone: z.string().min(1).max(64).optional(),
  /** The AWS Batch job (an array child: `id:index`) that runs the pilot. */
  batchJobId: z.string().min(1).max(128).optional(),
  /** Pilots sharing the instance: each pays its part of the instance's price. */
  pilotsOnInstance: z.number().int().min(1).max(1024).default(1),
});
export type CloudNode = z.infer<typeof CloudNodeSchema>;

/** What a cloud pilot costs, fixed at registration: its part of its instance's hourly price, and from where. */
export interface PilotCost {
  /** This pilot's part, USD per hour (the instance's price over pilotsOnInstance). */
  hourlyUsd: number;
  instanceHourlyUsd: number;
  source: 'table' | 'spot-history' | 'site';
  /** The price table's date, or when the Spot price was read. */
  asOf: string;
}

export const PilotRegistrationSchema = z.strictObject({
  siteId: SiteIdSchema,
  host: z.string().min(1).max(255),
  pid: z.number().int().positive(),
  version: z.string().max(64).default('dev'),
  resources: PilotResourcesSchema,
  batchId: z.string().max(128).optional(),
  /** Results of the node checks; a pilot with a failed check registers as unhealthy and takes no work. */
  health: z.array(HealthCheckSchema).max(32).optional(),
  /** Set by pilots on cloud instances or AWS Batch jobs. */
  cloud: CloudNodeSchema.optional(),
});
export type PilotRegistration = z.infer<typeof PilotRegistrationSchema>;

/** The registry's record of a pilot: written at registration and when it is gone. */
export interface Pilot extends PilotRegistration {
  pilotId: string;
  /** The pilot's state when it was last recorded: at registration, and when it exited or was lost. */
  state: PilotState;
  registeredAt: string;
  endedAt?: string;
  jobsRun?: number;
  /** A cloud pilot's price, when its site has provisioning. */
  cost?: PilotCost;
}

/**
 * A live pilot's lease: a small record of its own, renewed by the pilot's heartbeat (one write for
 * all the jobs it holds) and by its claims and reports. A pilot whose lease expired is lost: the
 * reaper queues its jobs again as new attempts. `jobs` lists the attempts the pilot holds (set by
 * the API), `kill` those the pilot must stop, with why (set by cancel).
 */
export interface PilotLease {
  pilotId: string;
  siteId: string;
  host?: string;
  state: LivePilotState | 'exited' | 'lost';
  /** When the lease expires, epoch ms. */
  expiresAt: number;
  /** Attempt keys (`taskId.jobIndex.attempt`) of the jobs the pilot holds. */
  jobs: string[];
  /** `attemptKey|reason` entries: jobs the pilot must kill, and why. */
  kill: string[];
  jobsRun: number;
  beatAt?: string;
  /** The resource classes the pilot can run (by the resources it registered), for the census. */
  classes?: ResourceClass[];
}

/** Why a pilot must kill a job it holds: heartbeat answers are codes, not prose. */
export const KILL_REASONS = ['cancelled', 'lease-lost'] as const;
export type KillReason = (typeof KILL_REASONS)[number];

export function killEntry(attemptKey: string, reason: KillReason): string {
  return `${attemptKey}|${reason}`;
}

/** What a heartbeat tells the pilot to do with each job it holds. */
export const HEARTBEAT_ACTIONS = ['continue', 'kill-cancelled', 'kill-lease-lost'] as const;
export type HeartbeatAction = (typeof HEARTBEAT_ACTIONS)[number];
