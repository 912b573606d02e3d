/**
 * How a cloud site gets its pilots (Harvester's and HEPCloud's provisioning): EC2 capacity asked
 * for with CreateFleet, or array jobs of pilots submitted to an AWS Batch job queue. Only sites of
 * kind `cloud` have it, and only they cost money (a paid site, for task budgets).
 */
import { z } from 'zod';
import { isKnownInstanceType } from './prices.ts';

export const SubnetIdSchema = z
  .string()
  .regex(/^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, 'a subnet id (subnet- and 8 or 17 hex digits)');

export const InstanceTypeNameSchema = z
  .string()
  .max(64)
  .refine(isKnownInstanceType, {
    error: (issue) =>
      `${String(issue.input)} is not an instance type Gluon knows (its price table: README, Cloud sites)`,
  });

export const Ec2ProvisioningSchema = z.strictObject({
  type: z.literal('ec2'),
  /**
   * The instance types asked for, each with its weight: the slots (site.slot) one instance gives.
   * Left out, the weight is what fits the type's vCPUs and memory.
   */
  instanceTypes: z
    .array(
      z.strictObject({
        type: InstanceTypeNameSchema,
        weight: z.number().int().min(1).max(256).optional(),
      }),
    )
    .min(1, 'at least one instance type')
    .max(20),
  /** `spot`: Spot only; `on-demand`: On-Demand only; `spot-first`: Spot, and On-Demand for what Spot cannot give. */
  market: z.enum(['spot', 'on-demand', 'spot-first']).default('spot-first'),
  subnets: z.array(SubnetIdSchema).min(1, 'at least one subnet').max(16),
  /** Instances of the site running or booting at once, at most. */
  maxInstances: z.number().int().min(0).max(10_000),
  /** What the site's instances may cost per hour together, at most (USD). */
  maxHourlyUsd: z.number().min(0).max(1_000_000),
  /** `slot`: one pilot per slot (weight pilots per instance); `instance`: one multi-job pilot per instance. */
  pilots: z.enum(['slot', 'instance']).default('slot'),
  /** A pilot with nothing to do for this long exits; when the last one has, the instance shuts down (terminate). */
  idleExitSec: z.number().int().min(5).max(86_400).default(300),
});
export type Ec2Provisioning = z.infer<typeof Ec2ProvisioningSchema>;

export const BatchProvisioningSchema = z.strictObject({
  type: z.literal('batch'),
  /** The AWS Batch job queue (name or ARN); the stage must list it (cloud.batchJobQueues) for the provisioner to be allowed. */
  jobQueue: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9:/_.-]+$/, 'a job queue name or ARN'),
  /** The job definition (name, name:revision or ARN) whose container runs the pilot. */
  jobDefinition: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9:/_.-]+$/, 'a job definition name or ARN'),
  /** Pilots in one array job at most (AWS Batch allows 2 to 10,000). */
  maxArraySize: z.number().int().min(2).max(10_000).default(100),
  /** What one pilot costs per hour; left out, Fargate's dated price for one slot. */
  hourlyUsdPerPilot: z.number().min(0).max(10_000).optional(),
  /** What the site's pilots may cost per hour together, at most (USD). */
  maxHourlyUsd: z.number().min(0).max(1_000_000).optional(),
  idleExitSec: z.number().int().min(5).max(86_400).default(300),
});
export type BatchProvisioning = z.infer<typeof BatchProvisioningSchema>;

export const ProvisioningSchema = z.discriminatedUnion('type', [
  Ec2ProvisioningSchema,
  BatchProvisioningSchema,
]);
export type Provisioning = z.infer<typeof ProvisioningSchema>;

/** A paid site: one whose pilots cost money (task budgets keep jobs off it once spent). */
export function isPaidSite(site: { provisioning?: Provisioning | undefined }): boolean {
  return site.provisioning !== undefined;
}
