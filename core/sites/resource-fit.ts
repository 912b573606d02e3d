import type { Resources } from '../tasks/task-spec.ts';

/** What a slot (brokerage) or a pilot (claim) offers one job. */
export interface ResourceOffer {
  cores: number;
  memoryMB: number;
  diskMB: number;
  /** The slot's walltime, or the walltime a pilot has left. */
  walltimeSec: number;
}

/**
 * Why a job needing `needs` does not fit `offer` (say who offers, e.g. "slots have", "pilot has"),
 * or undefined when it fits. One rule for brokerage and for claims.
 */
export function resourceMisfit(needs: Resources, offer: ResourceOffer, offerer: string): string | undefined {
  if (needs.cores > offer.cores) return `needs ${needs.cores} cores, ${offerer} ${offer.cores}`;
  if (needs.memoryMB > offer.memoryMB)
    return `needs ${needs.memoryMB} MB memory, ${offerer} ${offer.memoryMB}`;
  if (needs.walltimeSec > offer.walltimeSec)
    return `needs ${needs.walltimeSec} s walltime, ${offerer} ${offer.walltimeSec} s`;
  if (needs.diskMB > offer.diskMB) return `needs ${needs.diskMB} MB disk, ${offerer} ${offer.diskMB}`;
  return undefined;
}
