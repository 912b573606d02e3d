import { didText } from '../catalog/did.ts';
import type { Clock } from '../deps.ts';
import { retryDelaySec } from '../notifications/webhook.ts';
import type { RuleDeps } from './manage-rules.ts';
import type { ObjectCopier, ObjectRef } from './ports.ts';
import {
  type Lock,
  parseS3Url,
  replicaKey,
  settledState,
  type TransferMessage,
  transferMessageOf,
} from './rule.ts';

export type TransferDeps = Pick<RuleDeps, 'catalog' | 'rules' | 'transferQueue' | 'transfers'> & {
  copier: ObjectCopier;
  clock: Clock;
};

/** SQS delays a message by at most 15 minutes; longer back-offs are cut to it. */
export const MAX_MESSAGE_DELAY_SEC = 900;

export type TransferOutcome =
  | { outcome: 'copied'; bytes: number }
  | { outcome: 'retrying'; attempt: number; delaySec: number; reason: string }
  | { outcome: 'failed'; reason: string }
  /** A replay or a stale attempt, or the rule was deleted: nothing done. */
  | { outcome: 'skipped'; reason: string };

/** Why an attempt failed; `corrupt` when the copy did not match the file's checksum or size. */
class AttemptFailure extends Error {
  readonly corrupt: boolean;
  constructor(message: string, corrupt: boolean) {
    super(message);
    this.corrupt = corrupt;
  }
}

/**
 * One transfer (FTS's job, one file): copies file `scope:name` from an available replica on a
 * readable endpoint to the lock's endpoint, reads the copy back and checks its size and adler32.
 * A good copy makes the replica `available` and the lock `available` (the rule's counters move
 * once); a bad one is deleted, its replica marked `corrupt`, and the transfer is tried again after
 * an exponential back-off until attempts run out (then the replica is `unavailable`, the lock
 * `failed`, and the rule `stuck` once nothing else copies). A message for a lock that is no longer
 * copying at that attempt is a replay: nothing happens.
 */
export async function transferFile(deps: TransferDeps, message: TransferMessage): Promise<TransferOutcome> {
  const file = { scope: message.scope, name: message.name };
  const lock = await deps.rules.getLock(message.ruleId, file, message.endpointId);
  if (lock === undefined) return { outcome: 'skipped', reason: 'no such lock' };
  if (lock.state !== 'copying') return { outcome: 'skipped', reason: `lock ${lock.state}` };
  if (lock.attempt !== message.attempt) {
    // The retry's message may have been lost after its lock moved on (the send failed): send it again.
    if (message.attempt === lock.attempt - 1) await deps.transferQueue.send([transferMessageOf(lock)]);
    return { outcome: 'skipped', reason: `attempt ${message.attempt} is not the lock's (${lock.attempt})` };
  }
  const rule = await deps.rules.getRule(message.ruleId);
  if (rule === undefined || rule.state === 'deleted') return { outcome: 'skipped', reason: 'rule deleted' };

  const destination = await deps.catalog.getEndpoint(lock.endpointId);
  const now = (): string => deps.clock.now().toISOString();
  if (destination?.bucket === undefined)
    return fail(deps, lock, `endpoint ${lock.endpointId} is gone`, now());
  const target: ObjectRef = {
    bucket: destination.bucket,
    key: replicaKey(destination.prefix, lock.scope, lock.name),
  };
  const targetReplica = {
    scope: lock.scope,
    name: lock.name,
    endpointId: lock.endpointId,
    url: `s3://${target.bucket}/${target.key}`,
  };

  try {
    const source = await sourceOf(deps, lock);
    await deps.copier.copy(source, target, lock.bytes);
    const copied = await deps.copier.checksum(target);
    if (copied === undefined) throw new AttemptFailure('the copy is not there', false);
    if (copied.bytes !== lock.bytes || copied.adler32 !== lock.adler32) {
      throw new AttemptFailure(
        `the copy has ${copied.bytes} bytes, adler32 ${copied.adler32}; the file has ${lock.bytes}, ${lock.adler32}`,
        true,
      );
    }
  } catch (error) {
    const failure =
      error instanceof AttemptFailure
        ? error
        : new AttemptFailure((error as Error).message ?? String(error), false);
    if (failure.corrupt) {
      await deps.copier.remove(target);
      await deps.catalog.putReplica(
        { ...targetReplica, state: 'corrupt', updatedAt: now(), reason: failure.message },
        ['copying', 'corrupt'],
      );
    }
    return retry(deps, lock, failure.message, now());
  }

  const at = now();
  // Available only from copying (or corrupt, an earlier attempt's): another rule's or a pilot's state is not overwritten.
  await deps.catalog.putReplica({ ...targetReplica, state: 'available', updatedAt: at }, [
    'copying',
    'corrupt',
    'absent',
  ]);
  if (await deps.rules.finishLock(lock, 'available', at)) await settle(deps, lock.ruleId, at);
  return { outcome: 'copied', bytes: lock.bytes };
}

/** An available replica of the file on a readable S3 endpoint other than the destination. */
async function sourceOf(deps: TransferDeps, lock: Lock): Promise<ObjectRef> {
  const replicas = (await deps.catalog.replicasOf([lock])).get(didText(lock)) ?? [];
  for (const replica of replicas) {
    if (replica.state !== 'available' || replica.endpointId === lock.endpointId) continue;
    const endpoint = await deps.catalog.getEndpoint(replica.endpointId);
    const ref = parseS3Url(replica.url);
    if (endpoint?.readable === true && ref !== undefined) return ref;
  }
  throw new AttemptFailure(`no available replica of ${didText(lock)} on a readable S3 endpoint`, false);
}

async function retry(deps: TransferDeps, lock: Lock, reason: string, at: string): Promise<TransferOutcome> {
  const delay = retryDelaySec(lock.attempt, deps.transfers);
  if (delay === undefined) return fail(deps, lock, reason, at);
  if (!(await deps.rules.retryLock(lock, at, reason)))
    return { outcome: 'skipped', reason: 'lock moved meanwhile' };
  const delaySec = Math.min(delay, MAX_MESSAGE_DELAY_SEC);
  await deps.transferQueue.send([transferMessageOf({ ...lock, attempt: lock.attempt + 1 })], delaySec);
  return { outcome: 'retrying', attempt: lock.attempt + 1, delaySec, reason };
}

async function fail(deps: TransferDeps, lock: Lock, reason: string, at: string): Promise<TransferOutcome> {
  const destination = await deps.catalog.getEndpoint(lock.endpointId);
  if (destination?.bucket !== undefined) {
    await deps.catalog.putReplica(
      {
        scope: lock.scope,
        name: lock.name,
        endpointId: lock.endpointId,
        state: 'unavailable',
        url: `s3://${destination.bucket}/${replicaKey(destination.prefix, lock.scope, lock.name)}`,
        updatedAt: at,
        reason: `transfer given up after ${lock.attempt} attempt(s): ${reason}`,
      },
      ['copying', 'corrupt'],
    );
  }
  if (await deps.rules.finishLock(lock, 'failed', at, reason)) await settle(deps, lock.ruleId, at);
  return { outcome: 'failed', reason };
}

/** The rule's last transfer ended: ok, or stuck if some were given up. */
async function settle(deps: TransferDeps, ruleId: string, at: string): Promise<void> {
  const rule = await deps.rules.getRule(ruleId);
  if (rule === undefined || rule.state !== 'replicating') return;
  const state = settledState(rule);
  if (state === 'ok' || state === 'stuck') await deps.rules.settleRule(ruleId, state, at);
}
