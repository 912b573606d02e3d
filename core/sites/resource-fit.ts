import type { Resources } from '../tasks/task-spec.ts';

/** What a slot (brokerage) or a pilot (claim) offers one job. */
export interface ResourceOffer {
  cores: number;
  memoryMB: number;
  diskMB: number;
  /** The slot's walltime, or the walltime a pilot has left. */
  walltimeSec: number;
}

/** The first resource a job needs more of than is offered: which, how much it needs, how much is offered. */
export interface ResourceShortfall {
  resource: 'cores' | 'memoryMB' | 'walltimeSec' | 'diskMB';
  needs: number;
  offers: number;
}

/** In the order a lack is named: cores, then memory, walltime and disk. */
const CHECKED = ['cores', 'memoryMB', 'walltimeSec', 'diskMB'] as const;

/** The first shortfall of `offer` for a job needing `needs`, or undefined when it fits (structured). */
export function resourceShortfall(
  needs: Pick<Resources, ResourceShortfall['resource']>,
  offer: ResourceOffer,
): ResourceShortfall | undefined {
  for (const resource of CHECKED) {
    if (needs[resource] > offer[resource])
      return { resource, needs: needs[resource], offers: offer[resource] };
  }
  return undefined;
}

/** A shortfall in words, e.g. "needs 4000 MB memory, slots have 2000". */
export function describeShortfall(s: ResourceShortfall, offerer: string): string {
  switch (s.resource) {
    case 'cores':
      return `needs ${s.needs} cores, ${offerer} ${s.offers}`;
    case 'memoryMB':
      return `needs ${s.needs} MB memory, ${offerer} ${s.offers}`;
    case 'walltimeSec':
      return `needs ${s.needs} s walltime, ${offerer} ${s.offers} s`;
    case 'diskMB':
      return `needs ${s.needs} MB disk, ${offerer} ${s.offers}`;
  }
}

/**
 * Why a job needing `needs` does not fit `offer` (say who offers, e.g. "slots have", "pilot has"),
 * or undefined when it fits. One rule for brokerage and for claims.
 */
export function resourceMisfit(
  needs: Pick<Resources, ResourceShortfall['resource']>,
  offer: ResourceOffer,
  offerer: string,
): string | undefined {
  const shortfall = resourceShortfall(needs, offer);
  return shortfall === undefined ? undefined : describeShortfall(shortfall, offerer);
}
