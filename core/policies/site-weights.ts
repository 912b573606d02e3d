/**
 * The weighting of the sites that passed the filters: how large a part of a task's jobs each gets.
 *
 *   weight ∝ (maxPilots + free pilots) ÷ (1 + queued jobs ÷ maxPilots) × throughput factor
 *            × data factor (a dataset task read remotely: 0.25..1 by the share of its bytes close)
 *
 * A site's size (maxPilots) sets its part, up to doubled when its slots are free now; the jobs
 * already waiting there, counted in rounds of its pilots, divide it; and a site that finished
 * more jobs per pilot recently than the others (site health, when recorded) gets up to twice as
 * much, one that finished fewer down to half. The weights are normalised to add up to 1, and
 * turned into whole shares of about SHARE_TOTAL, which is what the jobs are spread by.
 */
import { emptyCensus } from '../sites/site.ts';
import type { ChosenSite, WeightInputs } from './brokerage-decision.ts';
import type { SiteFacts } from './site-filters.ts';

/** Shares of all chosen sites together (each gets at least 1). */
export const SHARE_TOTAL = 1000;
const THROUGHPUT_FACTOR_MIN = 0.5;
const THROUGHPUT_FACTOR_MAX = 2;

/** The inputs of one site's weight, before the throughput factor (which compares sites). */
export function weightInputs(facts: SiteFacts): Omit<WeightInputs, 'throughputFactor'> {
  const { site } = facts;
  const pilots = site.census?.pilots ?? emptyCensus();
  const busyPilots = pilots.busy + pilots.draining;
  const throughput = site.recent?.finishedPerMin;
  return {
    maxPilots: site.maxPilots,
    busyPilots,
    freePilots: Math.max(0, site.maxPilots - busyPilots),
    queuedJobs: facts.queuedJobs ?? 0,
    ...(throughput === undefined || !(throughput >= 0) ? {} : { throughputPerMin: throughput }),
    ...(facts.data?.remoteRead === true ? { dataFactor: dataFactor(facts.data.closeness) } : {}),
  };
}

/** A site close to none of a task's bytes weighs a quarter of one close to all (remote reads are slower). */
export function dataFactor(c: {
  files: number;
  bytes: number;
  closeFiles: number;
  closeBytes: number;
}): number {
  const fraction = c.bytes > 0 ? c.closeBytes / c.bytes : c.files > 0 ? c.closeFiles / c.files : 1;
  return round(0.25 + 0.75 * fraction, 3);
}

/** Each site's throughput per pilot against the median of the sites that have one; 1 when unknown. */
function throughputFactors(inputs: Array<Omit<WeightInputs, 'throughputFactor'>>): number[] {
  const rate = (i: Omit<WeightInputs, 'throughputFactor'>) =>
    i.throughputPerMin === undefined ? undefined : i.throughputPerMin / Math.max(1, i.maxPilots);
  const known = inputs
    .map(rate)
    .filter((r): r is number => r !== undefined)
    .sort((a, b) => a - b);
  const median = known.length === 0 ? 0 : (known[Math.floor((known.length - 1) / 2)] as number);
  return inputs.map((i) => {
    const r = rate(i);
    if (r === undefined || median <= 0) return 1;
    return Math.min(THROUGHPUT_FACTOR_MAX, Math.max(THROUGHPUT_FACTOR_MIN, r / median));
  });
}

export function rawWeight(i: WeightInputs): number {
  const size = Math.max(1, i.maxPilots);
  return ((size + i.freePilots) / (1 + i.queuedJobs / size)) * i.throughputFactor * (i.dataFactor ?? 1);
}

/** The chosen sites with their normalised weights, shares and inputs, in the order given. */
export function weighSites(sites: SiteFacts[]): ChosenSite[] {
  const partial = sites.map(weightInputs);
  const factors = throughputFactors(partial);
  const inputs: WeightInputs[] = partial.map((p, k) => ({
    ...p,
    throughputFactor: round(factors[k] ?? 1, 3),
  }));
  const raws = inputs.map(rawWeight);
  const total = raws.reduce((a, b) => a + b, 0);
  return sites.map((facts, k) => {
    const weight = total > 0 ? (raws[k] as number) / total : 1 / sites.length;
    return {
      siteId: facts.site.siteId,
      weight: round(weight, 4),
      share: Math.max(1, Math.round(weight * SHARE_TOTAL)),
      inputs: inputs[k] as WeightInputs,
    };
  });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
