import { roundUsd } from '../accounting/usage.ts';
/**
 * What EC2 capacity costs, kept in the code and dated: On-Demand Linux prices of the region the
 * table was taken in, and a typical Spot price at that date (Spot moves; where the Spot price history
 * can be read, the provisioner uses it instead). Sizes come with the prices: the provisioner needs
 * them for weights (slots per instance) and validation needs them to refuse an unknown type.
 */

/** The day the prices below were taken, and where. */
export const PRICE_TABLE_DATE = '2026-11-01';
export const PRICE_TABLE_REGION = 'us-east-1';

export type InstanceArch = 'x86_64' | 'aarch64';

export interface InstanceTypeInfo {
  vcpus: number;
  memoryMiB: number;
  arch: InstanceArch;
  gpus?: number;
  /** On-Demand, USD per hour (Linux, PRICE_TABLE_REGION, PRICE_TABLE_DATE). */
  onDemandUsd: number;
  /** A typical Spot price at the table's date, USD per hour. */
  spotUsd: number;
}

/**
 * Instance types Gluon knows (keep it sorted by family). On-Demand: the public Linux price list of
 * PRICE_TABLE_REGION; Spot: a typical price of the table's month (Spot moves: the Spot price history
 * is preferred where it can be read). GPUs: g4dn NVIDIA T4, g5 NVIDIA A10G, p3 NVIDIA V100.
 * To update: take the On-Demand prices of the region's price list (aws pricing get-products, or the
 * EC2 On-Demand pricing page) and a recent Spot price (aws ec2 describe-spot-price-history), then
 * change PRICE_TABLE_DATE.
 */
export const INSTANCE_TYPES: Readonly<Record<string, InstanceTypeInfo>> = {
  'm5.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.096, spotUsd: 0.037 },
  'm5.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.192, spotUsd: 0.074 },
  'm5.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.384, spotUsd: 0.1478 },
  'm5.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.768, spotUsd: 0.2957 },
  'm6i.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.096, spotUsd: 0.0384 },
  'm6i.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.192, spotUsd: 0.0768 },
  'm6i.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.384, spotUsd: 0.1536 },
  'm6i.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.768, spotUsd: 0.3072 },
  'm7i.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.1008, spotUsd: 0.0423 },
  'm7i.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.2016, spotUsd: 0.0847 },
  'm7i.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.4032, spotUsd: 0.1693 },
  'm7i.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.8064, spotUsd: 0.3387 },
  'm6a.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.0864, spotUsd: 0.0363 },
  'm6a.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.1728, spotUsd: 0.0726 },
  'm6a.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.3456, spotUsd: 0.1452 },
  'm6a.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.6912, spotUsd: 0.2903 },
  'm7a.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.11592, spotUsd: 0.0522 },
  'm7a.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.23184, spotUsd: 0.1043 },
  'm7a.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.46368, spotUsd: 0.2087 },
  'm7a.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.92736, spotUsd: 0.4173 },
  'm6g.large': { vcpus: 2, memoryMiB: 8192, arch: 'aarch64', onDemandUsd: 0.077, spotUsd: 0.0308 },
  'm6g.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'aarch64', onDemandUsd: 0.154, spotUsd: 0.0616 },
  'm6g.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'aarch64', onDemandUsd: 0.308, spotUsd: 0.1232 },
  'm6g.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'aarch64', onDemandUsd: 0.616, spotUsd: 0.2464 },
  'm7g.large': { vcpus: 2, memoryMiB: 8192, arch: 'aarch64', onDemandUsd: 0.0816, spotUsd: 0.0343 },
  'm7g.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'aarch64', onDemandUsd: 0.1632, spotUsd: 0.0685 },
  'm7g.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'aarch64', onDemandUsd: 0.3264, spotUsd: 0.1371 },
  'm7g.4xlarge': { vcpus: 16, memoryMiB: 65_536, arch: 'aarch64', onDemandUsd: 0.6528, spotUsd: 0.2742 },
  'c5.large': { vcpus: 2, memoryMiB: 4096, arch: 'x86_64', onDemandUsd: 0.085, spotUsd: 0.034 },
  'c5.xlarge': { vcpus: 4, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.17, spotUsd: 0.068 },
  'c5.2xlarge': { vcpus: 8, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.34, spotUsd: 0.136 },
  'c5.4xlarge': { vcpus: 16, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.68, spotUsd: 0.272 },
  'c6i.large': { vcpus: 2, memoryMiB: 4096, arch: 'x86_64', onDemandUsd: 0.085, spotUsd: 0.034 },
  'c6i.xlarge': { vcpus: 4, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.17, spotUsd: 0.068 },
  'c6i.2xlarge': { vcpus: 8, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.34, spotUsd: 0.136 },
  'c6i.4xlarge': { vcpus: 16, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.68, spotUsd: 0.272 },
  'c7i.large': { vcpus: 2, memoryMiB: 4096, arch: 'x86_64', onDemandUsd: 0.08925, spotUsd: 0.0384 },
  'c7i.xlarge': { vcpus: 4, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.1785, spotUsd: 0.0768 },
  'c7i.2xlarge': { vcpus: 8, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.357, spotUsd: 0.1535 },
  'c7i.4xlarge': { vcpus: 16, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.714, spotUsd: 0.307 },
  'c6g.large': { vcpus: 2, memoryMiB: 4096, arch: 'aarch64', onDemandUsd: 0.068, spotUsd: 0.0279 },
  'c6g.xlarge': { vcpus: 4, memoryMiB: 8192, arch: 'aarch64', onDemandUsd: 0.136, spotUsd: 0.0558 },
  'c6g.2xlarge': { vcpus: 8, memoryMiB: 16_384, arch: 'aarch64', onDemandUsd: 0.272, spotUsd: 0.1115 },
  'c6g.4xlarge': { vcpus: 16, memoryMiB: 32_768, arch: 'aarch64', onDemandUsd: 0.544, spotUsd: 0.223 },
  'c7g.large': { vcpus: 2, memoryMiB: 4096, arch: 'aarch64', onDemandUsd: 0.0725, spotUsd: 0.0304 },
  'c7g.xlarge': { vcpus: 4, memoryMiB: 8192, arch: 'aarch64', onDemandUsd: 0.145, spotUsd: 0.0609 },
  'c7g.2xlarge': { vcpus: 8, memoryMiB: 16_384, arch: 'aarch64', onDemandUsd: 0.29, spotUsd: 0.1218 },
  'c7g.4xlarge': { vcpus: 16, memoryMiB: 32_768, arch: 'aarch64', onDemandUsd: 0.58, spotUsd: 0.2436 },
  'r5.large': { vcpus: 2, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.126, spotUsd: 0.0378 },
  'r5.xlarge': { vcpus: 4, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.252, spotUsd: 0.0756 },
  'r5.2xlarge': { vcpus: 8, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.504, spotUsd: 0.1512 },
  'r5.4xlarge': { vcpus: 16, memoryMiB: 131_072, arch: 'x86_64', onDemandUsd: 1.008, spotUsd: 0.3024 },
  'r6i.large': { vcpus: 2, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.126, spotUsd: 0.0416 },
  'r6i.xlarge': { vcpus: 4, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.252, spotUsd: 0.0832 },
  'r6i.2xlarge': { vcpus: 8, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.504, spotUsd: 0.1663 },
  'r6i.4xlarge': { vcpus: 16, memoryMiB: 131_072, arch: 'x86_64', onDemandUsd: 1.008, spotUsd: 0.3326 },
  'r7i.large': { vcpus: 2, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.1323, spotUsd: 0.0503 },
  'r7i.xlarge': { vcpus: 4, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.2646, spotUsd: 0.1005 },
  'r7i.2xlarge': { vcpus: 8, memoryMiB: 65_536, arch: 'x86_64', onDemandUsd: 0.5292, spotUsd: 0.2011 },
  'r7i.4xlarge': { vcpus: 16, memoryMiB: 131_072, arch: 'x86_64', onDemandUsd: 1.0584, spotUsd: 0.4022 },
  'r6g.large': { vcpus: 2, memoryMiB: 16_384, arch: 'aarch64', onDemandUsd: 0.1008, spotUsd: 0.0383 },
  'r6g.xlarge': { vcpus: 4, memoryMiB: 32_768, arch: 'aarch64', onDemandUsd: 0.2016, spotUsd: 0.0766 },
  'r6g.2xlarge': { vcpus: 8, memoryMiB: 65_536, arch: 'aarch64', onDemandUsd: 0.4032, spotUsd: 0.1532 },
  'r6g.4xlarge': { vcpus: 16, memoryMiB: 131_072, arch: 'aarch64', onDemandUsd: 0.8064, spotUsd: 0.3064 },
  't3.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.0832, spotUsd: 0.0308 },
  't3.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.1664, spotUsd: 0.0616 },
  't3.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.3328, spotUsd: 0.1231 },
  't3a.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.0752, spotUsd: 0.0286 },
  't3a.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.1504, spotUsd: 0.0572 },
  't3a.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', onDemandUsd: 0.3008, spotUsd: 0.1143 },
  'g4dn.xlarge': {
    vcpus: 4,
    memoryMiB: 16_384,
    arch: 'x86_64',
    gpus: 1,
    onDemandUsd: 0.526,
    spotUsd: 0.2104,
  },
  'g4dn.2xlarge': {
    vcpus: 8,
    memoryMiB: 32_768,
    arch: 'x86_64',
    gpus: 1,
    onDemandUsd: 0.752,
    spotUsd: 0.3008,
  },
  'g4dn.4xlarge': {
    vcpus: 16,
    memoryMiB: 65_536,
    arch: 'x86_64',
    gpus: 1,
    onDemandUsd: 1.204,
    spotUsd: 0.4816,
  },
  'g4dn.12xlarge': {
    vcpus: 48,
    memoryMiB: 196_608,
    arch: 'x86_64',
    gpus: 4,
    onDemandUsd: 3.912,
    spotUsd: 1.5648,
  },
  'g5.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', gpus: 1, onDemandUsd: 1.006, spotUsd: 0.4225 },
  'g5.2xlarge': { vcpus: 8, memoryMiB: 32_768, arch: 'x86_64', gpus: 1, onDemandUsd: 1.212, spotUsd: 0.509 },
  'g5.4xlarge': {
    vcpus: 16,
    memoryMiB: 65_536,
    arch: 'x86_64',
    gpus: 1,
    onDemandUsd: 1.624,
    spotUsd: 0.6821,
  },
  'g5.12xlarge': {
    vcpus: 48,
    memoryMiB: 196_608,
    arch: 'x86_64',
    gpus: 4,
    onDemandUsd: 5.672,
    spotUsd: 2.3822,
  },
  'p3.2xlarge': { vcpus: 8, memoryMiB: 62_464, arch: 'x86_64', gpus: 1, onDemandUsd: 3.06, spotUsd: 0.918 },
  'p3.8xlarge': {
    vcpus: 32,
    memoryMiB: 249_856,
    arch: 'x86_64',
    gpus: 4,
    onDemandUsd: 12.24,
    spotUsd: 3.672,
  },
  'p3.16xlarge': {
    vcpus: 64,
    memoryMiB: 499_712,
    arch: 'x86_64',
    gpus: 8,
    onDemandUsd: 24.48,
    spotUsd: 7.344,
  },
};

export function instanceTypeInfo(type: string): InstanceTypeInfo | undefined {
  return Object.hasOwn(INSTANCE_TYPES, type) ? INSTANCE_TYPES[type] : undefined;
}

export function isKnownInstanceType(type: string): boolean {
  return instanceTypeInfo(type) !== undefined;
}

export const MARKETS = ['spot', 'on-demand'] as const;
export type Market = (typeof MARKETS)[number];

/** Where an hourly price came from: the dated table, the Spot price history, or the site's definition. */
export type PriceSource = 'table' | 'spot-history' | 'site';

export interface PriceQuote {
  hourlyUsd: number;
  source: PriceSource;
  /** The table's date, or the time of the Spot price read. */
  asOf: string;
}

/** A Spot price read from the Spot price history: USD per hour, and when it was read. */
export interface SpotPriceRead {
  usd: number;
  at: string;
}

/**
 * What one instance of a type costs per hour in a market: for Spot, the price history's when it
 * was read, else the dated table's typical Spot price; for On-Demand, the table's. Undefined for an
 * instance type the table does not know and no Spot price was read for.
 */
export function hourlyPrice(
  instanceType: string,
  market: Market,
  spot?: SpotPriceRead,
): PriceQuote | undefined {
  if (market === 'spot' && spot !== undefined) {
    return { hourlyUsd: spot.usd, source: 'spot-history', asOf: spot.at };
  }
  const info = instanceTypeInfo(instanceType);
  if (info === undefined) return undefined;
  return {
    hourlyUsd: market === 'spot' ? info.spotUsd : info.onDemandUsd,
    source: 'table',
    asOf: PRICE_TABLE_DATE,
  };
}

/** The resources of one slot a site offers (Site.slot), as far as instance sizes go. */
export interface SlotSize {
  cores: number;
  memoryMB: number;
  gpus?: number | undefined;
}

/**
 * How many slots of a site fit on one instance of a type (its cores, memory and GPUs; memory as the
 * type's nominal size): the default weight of the type, and the most a weight may be. 0: none fits.
 */
export function slotsPerInstance(
  info: Pick<InstanceTypeInfo, 'vcpus' | 'memoryMiB' | 'gpus'>,
  slot: SlotSize,
): number {
  const byCores = Math.floor(info.vcpus / slot.cores);
  const byMemory = Math.floor(info.memoryMiB / slot.memoryMB);
  const slotGpus = slot.gpus ?? 0;
  const byGpus = slotGpus === 0 ? Number.POSITIVE_INFINITY : Math.floor((info.gpus ?? 0) / slotGpus);
  return Math.max(0, Math.min(byCores, byMemory, byGpus));
}

/**
 * AWS Fargate's Linux prices per vCPU-hour and per GB-hour (PRICE_TABLE_REGION, PRICE_TABLE_DATE),
 * by architecture: what an AWS Batch pilot on Fargate costs when its site does not say.
 */
export const FARGATE_PRICES: Readonly<Record<InstanceArch, { vcpuHourUsd: number; gbHourUsd: number }>> = {
  x86_64: { vcpuHourUsd: 0.04048, gbHourUsd: 0.004445 },
  aarch64: { vcpuHourUsd: 0.03238, gbHourUsd: 0.00356 },
};

/**
 * What one slot costs per hour on Fargate (USD): its cores as vCPUs and its memory rounded up to
 * whole GB (Fargate's memory steps), at the slot's architecture's price (x86_64 when not aarch64).
 */
export function fargateHourlyUsd(slot: SlotSize & { arch?: string | undefined }): number {
  const prices = FARGATE_PRICES[slot.arch === 'aarch64' ? 'aarch64' : 'x86_64'];
  const gb = Math.ceil(slot.memoryMB / 1024);
  return roundUsd(slot.cores * prices.vcpuHourUsd + gb * prices.gbHourUsd);
}

/**
 * What one pilot of an AWS Batch site costs per hour: the site's hourlyUsdPerPilot when it gives
 * one (source `site`, as of `at`: when the definition was read), else Fargate's dated price for one
 * slot (source `table`).
 */
export function batchPilotPrice(
  provisioning: { hourlyUsdPerPilot?: number | undefined },
  slot: SlotSize & { arch?: string | undefined },
  at: string,
): PriceQuote {
  return provisioning.hourlyUsdPerPilot === undefined
    ? { hourlyUsd: fargateHourlyUsd(slot), source: 'table', asOf: PRICE_TABLE_DATE }
    : { hourlyUsd: provisioning.hourlyUsdPerPilot, source: 'site', asOf: at };
}
