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

/** Instance types Gluon knows (filled by the provisioning work; keep it sorted by family). */
export const INSTANCE_TYPES: Readonly<Record<string, InstanceTypeInfo>> = {
  'm5.large': { vcpus: 2, memoryMiB: 8192, arch: 'x86_64', onDemandUsd: 0.096, spotUsd: 0.037 },
  'm5.xlarge': { vcpus: 4, memoryMiB: 16_384, arch: 'x86_64', onDemandUsd: 0.192, spotUsd: 0.074 },
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

/**
 * What one instance of a type costs per hour in a market: the Spot price history's latest price
 * when given (Spot only), else the dated table's.
 */
export function hourlyPrice(
  instanceType: string,
  market: Market,
  spot?: { usd: number; at: string },
): PriceQuote | undefined {
  if (market === 'spot' && spot !== undefined)
    return { hourlyUsd: spot.usd, source: 'spot-history', asOf: spot.at };
  const info = instanceTypeInfo(instanceType);
  if (info === undefined) return undefined;
  return {
    hourlyUsd: market === 'spot' ? info.spotUsd : info.onDemandUsd,
    source: 'table',
    asOf: PRICE_TABLE_DATE,
  };
}

/** How many slots (cores, memory and GPUs of site.slot) fit in one instance of a type: its default weight. */
export function slotsPerInstance(
  info: InstanceTypeInfo,
  slot: { cores: number; memoryMB: number; gpus?: number | undefined },
): number {
  const fits = [Math.floor(info.vcpus / slot.cores), Math.floor(info.memoryMiB / slot.memoryMB)];
  if (slot.gpus !== undefined && slot.gpus > 0) fits.push(Math.floor((info.gpus ?? 0) / slot.gpus));
  return Math.max(0, Math.min(...fits));
}

/** AWS Fargate's Linux/x86 prices at PRICE_TABLE_DATE in PRICE_TABLE_REGION: per vCPU-hour and per GB-hour. */
export const FARGATE_PRICES = { vcpuHourUsd: 0.040_48, gbHourUsd: 0.004_445 } as const;

/** What one pilot of `slot` costs per hour on Fargate (a Batch site without hourlyUsdPerPilot). */
export function fargateHourlyUsd(slot: { cores: number; memoryMB: number }): number {
  const usd = slot.cores * FARGATE_PRICES.vcpuHourUsd + (slot.memoryMB / 1024) * FARGATE_PRICES.gbHourUsd;
  return Math.round(usd * 1e6) / 1e6;
}
