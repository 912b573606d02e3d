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
