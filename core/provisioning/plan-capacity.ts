import { roundUsd } from '../accounting/usage.ts';
/**
 * The provisioning arithmetic (pure): how much capacity a cloud site asks for in one cycle, from
 * the demand rule of `gluon-pilot factory` (core/sites/pilots-to-submit.ts) and the site's caps.
 *
 * EC2 capacity is counted in units, one unit a slot (site.slot): an instance type's weight is the
 * slots one instance gives. A request of U units may be filled by EC2 with any mix of the
 * overrides, so the caps are checked for the worst mix: at most ceil(U / smallest weight)
 * instances, and at most (U − 1) units at the priciest price per unit plus the priciest instance
 * (EC2 stops once the target is reached; the last instance may overshoot).
 */

import { pilotsToSubmit } from '../sites/pilots-to-submit.ts';
import type { Site } from '../sites/site.ts';
import type { BatchProvisioning, Ec2Provisioning } from './cloud-site.ts';
import type { CloudInstance } from './ports.ts';
import { instanceTypeInfo, type Market, type PriceQuote, slotsPerInstance } from './prices.ts';
import type { ProvisioningLimit } from './provisioning-decision.ts';

/** Prices by `${instanceType}/${market}` (the decision's `prices`). */
export type PriceBook = Record<string, PriceQuote>;

export function priceKey(instanceType: string, market: Market): string {
  return `${instanceType}/${market}`;
}

/** A little slack for sums of prices in floating point (a cap of 0.3 allows 0.1 + 0.2). */
const EPSILON = 1e-9;

export interface Ec2PlanInput {
  site: Pick<Site, 'maxPilots' | 'slot'>;
  provisioning: Ec2Provisioning;
  /** Pilots the site could use now (siteDemand: queued work not covered by live pilots, within caps). */
  pilotsWanted: number;
  /** Live pilots of the site at the reaper's last census (registered ones). */
  livePilots: number;
  /** The site's instances now, pending and running (those started earlier in this cycle included). */
  instances: CloudInstance[];
  prices: PriceBook;
}

/** A type the site asks for, with its weight (slots per instance). */
export interface WeightedType {
  instanceType: string;
  weight: number;
}

/** The site's instance types with their weights; types no slot fits in (weight 0) left out. */
export function weightedTypes(provisioning: Ec2Provisioning, slot: Site['slot']): WeightedType[] {
  const types: WeightedType[] = [];
  for (const { type, weight } of provisioning.instanceTypes) {
    const info = instanceTypeInfo(type);
    const w = weight ?? (info === undefined ? 0 : slotsPerInstance(info, slot));
    if (w > 0) types.push({ instanceType: type, weight: w });
  }
  return types;
}

/** The slots one instance gives: its type's weight at the site, else what fits, else 1. */
function slotsOf(instance: CloudInstance, types: WeightedType[], slot: Site['slot']): number {
  const known = types.find((t) => t.instanceType === instance.instanceType);
  if (known !== undefined) return known.weight;
  const info = instanceTypeInfo(instance.instanceType);
  return Math.max(1, info === undefined ? 1 : slotsPerInstance(info, slot));
}

/** An instance's hourly price from the book, else the dated table's, else nothing known (0). */
function priceOf(instance: CloudInstance, prices: PriceBook): number {
  const quoted = prices[priceKey(instance.instanceType, instance.market)];
  if (quoted !== undefined) return quoted.hourlyUsd;
  const info = instanceTypeInfo(instance.instanceType);
  if (info === undefined) return 0;
  return instance.market === 'spot' ? info.spotUsd : info.onDemandUsd;
}

/** The capacity a site has now: instances booting and running, the slots they give, what they cost. */
export interface Ec2Capacity {
  pending: number;
  running: number;
  pendingSlots: number;
  runningSlots: number;
  slots: number;
  hourlyUsd: number;
}

export function ec2Capacity(
  instances: CloudInstance[],
  types: WeightedType[],
  slot: Site['slot'],
  prices: PriceBook,
): Ec2Capacity {
  const capacity = { pending: 0, running: 0, pendingSlots: 0, runningSlots: 0, slots: 0, hourlyUsd: 0 };
  for (const instance of instances) {
    const slots = slotsOf(instance, types, slot);
    if (instance.state === 'pending') {
      capacity.pending++;
      capacity.pendingSlots += slots;
    } else {
      capacity.running++;
      capacity.runningSlots += slots;
    }
    capacity.slots += slots;
    capacity.hourlyUsd += priceOf(instance, prices);
  }
  capacity.hourlyUsd = roundUsd(capacity.hourlyUsd);
  return capacity;
}

/** One CreateFleet's worth of capacity in one market, as planned. */
export interface FleetPlan {
  market: Market;
  /** Slots the demand rule wants started now (before the caps of instances and spend). */
  slotsWanted: number;
  /** Units (slots) to ask for: 0 asks nothing. */
  targetUnits: number;
  /** The types asked for, cheapest per slot first (their priority). */
  types: Array<WeightedType & { hourlyUsd: number }>;
  /** At most this many instances can come of the request. */
  maxNewInstances: number;
  /** What the request may cost per hour at most, whatever mix EC2 picks. */
  worstHourlyUsd: number;
  limitedBy: ProvisioningLimit;
  capacity: Ec2Capacity;
}

/**
 * What to ask EC2 for in `market` now. The demand rule (pilotsToSubmit) counts the slots of booting
 * instances as pending pilots, and those of running instances whose pilots have not registered yet
 * as unregistered: what is on its way is not asked for again. Then the caps: instances (maxInstances
 * − the site's), spend (maxHourlyUsd − what the site's instances cost, at the worst mix). For
 * `spot-first`, call it for `spot`, add what Spot gave to `instances`, and call it for `on-demand`:
 * it asks for the rest.
 */
export function planFleet(input: Ec2PlanInput, market: Market): FleetPlan {
  const { site, provisioning, prices } = input;
  const types = weightedTypes(provisioning, site.slot);
  const capacity = ec2Capacity(input.instances, types, site.slot, prices);
  // One multi-job pilot per instance: a registered pilot stands for its instance's slots.
  const slotsPerPilot =
    provisioning.pilots === 'instance' && capacity.running > 0 ? capacity.runningSlots / capacity.running : 1;
  const unregistered = Math.max(0, Math.round(capacity.runningSlots - input.livePilots * slotsPerPilot));
  const demand = {
    pilotsWanted: input.pilotsWanted,
    pending: capacity.pendingSlots,
    running: capacity.runningSlots,
    unregistered,
    maxPending: site.maxPilots,
    maxPilots: site.maxPilots,
  };
  const slotsWanted = pilotsToSubmit(demand);
  const priced = types
    .map((t) => ({ ...t, hourlyUsd: prices[priceKey(t.instanceType, market)]?.hourlyUsd }))
    .filter((t): t is WeightedType & { hourlyUsd: number } => t.hourlyUsd !== undefined)
    .sort((a, b) => a.hourlyUsd / a.weight - b.hourlyUsd / b.weight);
  const plan = (targetUnits: number, limitedBy: ProvisioningLimit, maxNewInstances = 0): FleetPlan => ({
    market,
    slotsWanted,
    targetUnits,
    types: priced,
    maxNewInstances,
    worstHourlyUsd: roundUsd(worstHourlyUsd(priced, targetUnits)),
    limitedBy,
    capacity,
  });
  if (slotsWanted === 0) {
    // Nothing asked because the demand is met, or because maxPilots holds it back.
    const unmet = input.pilotsWanted - capacity.pendingSlots - unregistered > 0;
    return plan(0, unmet ? 'maxPilots' : 'no-demand');
  }
  if (priced.length === 0) return plan(0, 'error');
  const minWeight = Math.min(...priced.map((t) => t.weight));
  const instanceRoom = Math.max(0, provisioning.maxInstances - capacity.pending - capacity.running);
  const byInstances = instanceRoom * minWeight;
  const bySpend = unitsWithin(priced, provisioning.maxHourlyUsd - capacity.hourlyUsd);
  const units = Math.min(slotsWanted, byInstances, bySpend);
  let limitedBy: ProvisioningLimit = 'none';
  if (units < slotsWanted) limitedBy = byInstances <= bySpend ? 'maxInstances' : 'maxHourlyUsd';
  else if (slotsWanted < input.pilotsWanted - capacity.pendingSlots - unregistered) limitedBy = 'maxPilots';
  return plan(units, limitedBy, Math.ceil(units / minWeight));
}

/** The most a request of `units` may cost per hour: (units − 1) at the priciest per slot, plus the priciest instance. */
export function worstHourlyUsd(types: Array<WeightedType & { hourlyUsd: number }>, units: number): number {
  if (units <= 0 || types.length === 0) return 0;
  const perUnit = Math.max(...types.map((t) => t.hourlyUsd / t.weight));
  const priciest = Math.max(...types.map((t) => t.hourlyUsd));
  return perUnit * (units - 1) + priciest;
}

/** The most units whose worst cost stays within `budgetUsd` per hour. */
function unitsWithin(types: Array<WeightedType & { hourlyUsd: number }>, budgetUsd: number): number {
  const perUnit = Math.max(...types.map((t) => t.hourlyUsd / t.weight));
  const priciest = Math.max(...types.map((t) => t.hourlyUsd));
  if (budgetUsd + EPSILON < priciest) return 0;
  if (perUnit <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor((budgetUsd - priciest) / perUnit + EPSILON) + 1;
}

/** The markets asked in order: Spot first where allowed, On-Demand for the rest with `spot-first`. */
export function marketsOf(provisioning: Pick<Ec2Provisioning, 'market'>): Market[] {
  if (provisioning.market === 'spot') return ['spot'];
  if (provisioning.market === 'on-demand') return ['on-demand'];
  return ['spot', 'on-demand'];
}

export interface BatchPlanInput {
  site: Pick<Site, 'maxPilots'>;
  provisioning: BatchProvisioning;
  pilotsWanted: number;
  livePilots: number;
  /** The site's pilot jobs in the queue: not started yet, and running. */
  pending: number;
  running: number;
  /** What one pilot costs per hour. */
  hourlyUsdPerPilot: number;
}

export interface BatchPlan {
  slotsWanted: number;
  /** Pilots to submit now. */
  pilots: number;
  /** Their array jobs' sizes, each at most maxArraySize. */
  arrays: number[];
  /** What the site's pilot jobs cost per hour now. */
  hourlyUsd: number;
  limitedBy: ProvisioningLimit;
}

/** Pilots to submit to a Batch site now: the demand rule within site.maxPilots and maxHourlyUsd, in arrays. */
export function planBatch(input: BatchPlanInput): BatchPlan {
  const { site, provisioning, pending, running, hourlyUsdPerPilot } = input;
  const unregistered = Math.max(0, running - input.livePilots);
  const slotsWanted = pilotsToSubmit({
    pilotsWanted: input.pilotsWanted,
    pending,
    running,
    unregistered,
    maxPending: site.maxPilots,
    maxPilots: site.maxPilots,
  });
  const hourlyUsd = roundUsd((pending + running) * hourlyUsdPerPilot);
  const unmet = input.pilotsWanted - pending - unregistered;
  let pilots = slotsWanted;
  let limitedBy: ProvisioningLimit =
    slotsWanted < unmet ? 'maxPilots' : slotsWanted === 0 ? 'no-demand' : 'none';
  if (provisioning.maxHourlyUsd !== undefined && hourlyUsdPerPilot > 0) {
    const room = Math.max(
      0,
      Math.floor((provisioning.maxHourlyUsd - hourlyUsd) / hourlyUsdPerPilot + EPSILON),
    );
    if (room < pilots) {
      pilots = room;
      limitedBy = 'maxHourlyUsd';
    }
  }
  const arrays: number[] = [];
  for (let left = pilots; left > 0; left -= provisioning.maxArraySize)
    arrays.push(Math.min(left, provisioning.maxArraySize));
  return { slotsWanted, pilots, arrays, hourlyUsd, limitedBy };
}
