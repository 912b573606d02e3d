import type { InstanceArch, Market } from './prices.ts';

/** One instance of a site's, as EC2 describes it (tag gluon:site), while it is pending or running. */
export interface CloudInstance {
  instanceId: string;
  instanceType: string;
  market: Market;
  state: 'pending' | 'running';
  launchedAt: string;
  subnetId?: string;
}

/**
 * One CreateFleet of type `instant` for a site: `targetUnits` slots' worth of instances in one
 * market, across the overrides (type × subnet, each with its weight), with the launch template the
 * adapter was configured with and these tags on instances and volumes.
 */
export interface FleetRequest {
  siteId: string;
  /** Idempotency: a retried request with the same token starts nothing twice. */
  clientToken: string;
  market: Market;
  targetUnits: number;
  overrides: Array<{ instanceType: string; subnetId: string; weight: number; priority?: number }>;
  tags: Record<string, string>;
  /** The slots' architecture: picks the launch template (one per architecture); left out, x86_64. */
  arch?: InstanceArch;
}

export interface FleetOutcome {
  instances: Array<{ instanceId: string; instanceType: string; market: Market; subnetId?: string }>;
  /** What EC2 could not give (InsufficientInstanceCapacity, …), by override where it says. */
  errors: Array<{ code: string; message: string; instanceType?: string; subnetId?: string }>;
}

/** EC2 as the provisioner needs it (adapters/ec2 speaks to the real API or the local fake). */
export interface Ec2Fleet {
  listInstances(siteId: string): Promise<CloudInstance[]>;
  createFleet(request: FleetRequest): Promise<FleetOutcome>;
  /** The latest Spot price of each type (Linux) in the subnets' zones; empty when it cannot be read. */
  spotPrices(instanceTypes: string[]): Promise<Record<string, { usd: number; at: string }>>;
}

/** AWS Batch as the provisioner needs it. */
export interface BatchPilots {
  /** The site's pilot jobs in the queue: not started yet (SUBMITTED…RUNNABLE, STARTING) and running. */
  countPilots(siteId: string, jobQueue: string): Promise<{ pending: number; running: number }>;
  /** One array job of `size` pilots (size 1: a plain job; Batch arrays start at 2). */
  submitArray(request: {
    siteId: string;
    jobQueue: string;
    jobDefinition: string;
    size: number;
    /** Idempotent name, e.g. `gluon-pilot-<siteId>-<time>`. */
    jobName: string;
    environment: Record<string, string>;
    tags: Record<string, string>;
  }): Promise<{ jobId: string }>;
}
