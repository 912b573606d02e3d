import type { PilotCredentials, RegisterPilotResponse } from '../api/pilots.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError, PilotGoneError } from '../errors.ts';
import { leaseExpiry } from './lease.ts';
import { isLivePilotState, type Pilot, type PilotRegistration } from './pilot.ts';
import { assertSiteAllowed } from './pilot-access.ts';

/**
 * A pilot registers with its site, resources and node checks. A pilot whose checks failed is
 * recorded as unhealthy (operators see why) and told to take no work: no black-hole pilots. A
 * healthy pilot gets its lease (which it renews itself, in the lease table) and, where the
 * deployment vends them, short-lived credentials limited to its site and its own lease.
 */
export async function registerPilot(
  deps: Pick<
    Deps,
    'pilots' | 'leases' | 'sites' | 'queue' | 'objects' | 'credentials' | 'clock' | 'ids' | 'settings'
  >,
  principal: Principal,
  registration: PilotRegistration,
): Promise<RegisterPilotResponse> {
  assertSiteAllowed(principal, registration.siteId);
  const site = await deps.sites.get(registration.siteId);
  if (site === undefined) throw new NotFoundError(`site ${registration.siteId} does not exist`);
  if (site.status === 'offline') throw new ConflictError(`site ${registration.siteId} is offline`);
  const failed = (registration.health ?? []).filter((check) => !check.ok);
  const accepted = failed.length === 0;
  const reason = accepted
    ? undefined
    : `node checks failed: ${failed.map((c) => `${c.name}${c.message === undefined ? '' : ` (${c.message})`}`).join(', ')}`;
  const now = deps.clock.now();
  const at = now.toISOString();
  const pilot: Pilot = {
    ...registration,
    pilotId: deps.ids.pilotId(),
    state: accepted ? 'starting' : 'unhealthy',
    registeredAt: at,
    ...(accepted ? {} : { endedAt: at }),
  };
  const queueUrl = await deps.queue.queueUrl(site.siteId);
  await deps.pilots.register(pilot);
  if (accepted) {
    await deps.leases.create({
      pilotId: pilot.pilotId,
      siteId: site.siteId,
      host: registration.host,
      state: 'starting',
      expiresAt: leaseExpiry(now.getTime(), deps.settings.leaseSec),
      jobs: [],
      kill: [],
      jobsRun: 0,
      beatAt: at,
    });
  }
  const credentials = accepted
    ? await deps.credentials.vend({
        pilotId: pilot.pilotId,
        siteId: site.siteId,
        queueUrl,
        bucket: deps.objects.bucket,
        leaseTable: deps.leases.tableName,
      })
    : undefined;
  return {
    pilotId: pilot.pilotId,
    siteId: site.siteId,
    accepted,
    ...(reason === undefined ? {} : { reason }),
    queueUrl,
    bucket: deps.objects.bucket,
    leaseTable: deps.leases.tableName,
    heartbeatSec: deps.settings.heartbeatSec,
    leaseSec: deps.settings.leaseSec,
    serverTime: at,
    ...(credentials === undefined ? {} : { credentials }),
  };
}

/** Fresh credentials for a live pilot, before the ones it holds expire. */
export async function renewPilotCredentials(
  deps: Pick<Deps, 'leases' | 'queue' | 'objects' | 'credentials'>,
  principal: Principal,
  pilotId: string,
): Promise<PilotCredentials> {
  const lease = await deps.leases.get(pilotId);
  if (lease === undefined || !isLivePilotState(lease.state)) {
    throw new PilotGoneError(`pilot ${pilotId} is ${lease?.state ?? 'unknown or gone'}; register again`);
  }
  assertSiteAllowed(principal, lease.siteId);
  const queueUrl = await deps.queue.queueUrl(lease.siteId);
  const credentials = await deps.credentials.vend({
    pilotId,
    siteId: lease.siteId,
    queueUrl,
    bucket: deps.objects.bucket,
    leaseTable: deps.leases.tableName,
  });
  if (credentials === undefined)
    throw new NotFoundError('this deployment vends no credentials; pilots use their own');
  return credentials;
}
