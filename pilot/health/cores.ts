import { availableParallelism } from 'node:os';
import type { HealthCheck } from '#core/pilots/pilot.ts';
import { checkResult } from './check-result.ts';

/** The advertised cores are there: this process may run on at least that many CPUs. */
export async function checkCores(options: { advertised: number; available?: number }): Promise<HealthCheck> {
  const available = options.available ?? availableParallelism();
  const value = `${available} usable, ${options.advertised} advertised`;
  if (available >= options.advertised) return checkResult('cores', true, value);
  return checkResult(
    'cores',
    false,
    value,
    `this process may use fewer CPUs than advertised (--cores ${options.advertised})`,
  );
}
