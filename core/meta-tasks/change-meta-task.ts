import type { Deps } from '../deps.ts';
import { NotFoundError, TransientError } from '../errors.ts';
import type { MetaTask } from './meta-task.ts';

const MAX_TRIES = 8;

/**
 * Reads the meta-task, lets `change` edit a copy (undefined: nothing to write) and writes it
 * conditionally on the version read; on a lost race it reads again and retries. `change` must
 * therefore be safe to run again on the newer meta-task.
 */
export async function changeMetaTask(
  deps: Pick<Deps, 'metaTasks' | 'clock'>,
  metaTaskId: string,
  change: (metaTask: MetaTask) => Promise<MetaTask | undefined> | MetaTask | undefined,
): Promise<MetaTask> {
  for (let tries = 0; tries < MAX_TRIES; tries += 1) {
    const current = await deps.metaTasks.get(metaTaskId);
    if (current === undefined) throw new NotFoundError(`meta-task ${metaTaskId} not found`);
    const next = await change(structuredClone(current));
    if (next === undefined) return current;
    const written = { ...next, version: current.version + 1, updatedAt: deps.clock.now().toISOString() };
    if (await deps.metaTasks.update(written)) return written;
  }
  throw new TransientError(`meta-task ${metaTaskId} changed too often meanwhile; try again`);
}
