import type { Page, PageRequest } from '../api/common.ts';
import type { PilotView } from '../api/pilots.ts';
import type { Deps } from '../deps.ts';
import type { Pilot, PilotLease } from './pilot.ts';

export function pilotView(pilot: Pilot, lease: PilotLease | undefined): PilotView {
  return {
    ...pilot,
    ...(lease === undefined
      ? {}
      : {
          state: lease.state,
          jobsRun: lease.jobsRun,
          lease: {
            state: lease.state,
            expiresAt: new Date(lease.expiresAt).toISOString(),
            ...(lease.beatAt === undefined ? {} : { beatAt: lease.beatAt }),
            jobs: lease.jobs,
          },
        }),
  };
}

/** Pilots of the registry with, for the live ones, their lease (state, expiry, jobs held). */
export async function listPilots(
  deps: Pick<Deps, 'pilots' | 'leases'>,
  page: PageRequest,
): Promise<Page<PilotView>> {
  const result = await deps.pilots.list(page);
  const leases = await Promise.all(
    result.items.map((pilot) => (pilot.endedAt === undefined ? deps.leases.get(pilot.pilotId) : undefined)),
  );
  return { ...result, items: result.items.map((pilot, i) => pilotView(pilot, leases[i])) };
}
