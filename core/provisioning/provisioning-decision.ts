/**
 * What the provisioner decided for one cloud site in one cycle, and why: kept as the site's last
 * decision (and in a bounded history when it asked for capacity or its reason changed), shown by
 * `gluon sites` and `gluon why`. The shape is the API's too.
 */
import { z } from 'zod';
import { MARKETS } from './prices.ts';

export const PROVISIONING_LIMITS = [
  'none',
  'no-demand',
  'maxInstances',
  'maxHourlyUsd',
  'maxPilots',
  'site-status',
  'error',
] as const;
export type ProvisioningLimit = (typeof PROVISIONING_LIMITS)[number];

export const ProvisioningDecisionSchema = z.object({
  siteId: z.string(),
  at: z.string(),
  type: z.enum(['ec2', 'batch']),
  /** The demand rule's inputs (as gluon-pilot factory sees them): jobs queued, pilots wanted. */
  queuedJobs: z.number().int(),
  pilotsWanted: z.number().int(),
  /** Capacity the site has now: instances (ec2) or pilot jobs (batch) booting and running, and the slots they give. */
  pending: z.number().int(),
  running: z.number().int(),
  slots: z.number().int(),
  /** What the site's capacity costs now, USD per hour. */
  hourlyUsd: z.number(),
  /** What was asked for in this cycle (empty: nothing). */
  requested: z.array(
    z.object({
      market: z.enum(MARKETS),
      instanceType: z.string().optional(),
      count: z.number().int(),
      slots: z.number().int(),
      hourlyUsd: z.number(),
    }),
  ),
  /** Instances (or pilot jobs) actually started. */
  started: z.number().int(),
  /** What held the request back, if anything. */
  limitedBy: z.enum(PROVISIONING_LIMITS),
  /** The prices used, by instance type and market (`m5.large/spot`). */
  prices: z
    .record(z.string(), z.object({ hourlyUsd: z.number(), source: z.string(), asOf: z.string() }))
    .default({}),
  errors: z.array(z.string()).default([]),
  /** One sentence for people: what was done and why. */
  summary: z.string(),
});
export type ProvisioningDecision = z.infer<typeof ProvisioningDecisionSchema>;
