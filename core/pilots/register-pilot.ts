import type { PilotCredentials, RegisterPilotRequest, RegisterPilotResponse } from '../api/pilots.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError, PilotGoneError } from '../errors.ts';
import { classesFitting } from '../jobs/resource-class.ts';
import { pilotCost } from '../provisioning/pilot-cost.ts';
import { bucketOf, outcomesKeptFrom } from '../sites/site-outcomes.ts';
import { leaseExpiry } from './lease.ts';
import { type HealthCheck, isLivePilotState, type Pilot, type PilotLease } from './pilot.ts';
import { assertSiteAllowed } from './pilot-access.ts';

type RegisterDeps = Pick<
  Deps,
  'pilots' | 'leases' | 'sites' | 'queue' | 'objects' | 'credentials' | 'clock' | 'ids' | 'settings'
>;

/**
 * A pilot registers with its site, resources and node checks. A pilot whose checks failed is
 * recorded as unhealthy (operators see why) and told to take no work: no black-hole pilots. A
 * healthy pilot gets its lease (which it renews itself, in the lease table) and, where the
 * deployment vends them, short-lived credentials limited to its site and its own lease. An
 * unhealthy pilot counts against its site's health (once per pilot). A registration sent again
 * with the same key (a retry whose answer was lost) is answered for the pilot it registered, with
 * fresh credentials: never a second pilot. A pilot of a cloud site that says where it runs (its
 * instance type and market, or its AWS Batch job) is priced now (Pilot.cost, from the site read).
 */
export async function registerPilot(
  deps: RegisterDeps,
  principal: Principal,
  request: RegisterPilotRequest,
): Promise<RegisterPilotResponse> {
  const { registrationKey, ...registration } = request;
  assertSiteAllowed(principal, registration.siteId);
  const site = await deps.sites.get(registration.siteId);
  if (site === undefined) throw new NotFoundError(`site ${registration.siteId} does not exist`);
  if (site.status === 'offline') throw new ConflictError(`site ${registration.siteId} is offline`);
  const accepted = failedChecks(registration.health).length === 0;
  const queueUrl = await deps.queue.queueUrl(site.siteId);
  const queues = await Promise.all(
    classesFitting(registration.resources).map(async (resourceClass) => ({
      resourceClass,
      queueUrl: await deps.queue.queueUrl(site.siteId, resourceClass),
    })),
  );
  const now = deps.clock.now();
  const at = now.toISOString();
  const cost = pilotCost(site, registration.cloud, at);
  const pilot: Pilot = {
    ...registration,
    pilotId: deps.ids.pilotId(registrationKey),
    state: accepted ? 'starting' : 'unhealthy',
    registeredAt: at,
    ...(accepted ? {} : { endedAt: at }),
    ...(cost === undefined ? {} : { cost }),
  };
  if ((await deps.pilots.register(pilot)) === 'exists') {
    if (registrationKey === undefined) throw new ConflictError(`pilot ${pilot.pilotId} already registered`);
    const registered = await registeredBefore(deps, pilot, now);
    // Counted again in case the first try stopped before counting it (the count is once per pilot).
    if (registered.state === 'unhealthy') await countUnhealthy(deps, registered, now);
    return registrationAnswer(deps, registered, { queueUrl, queues }, now);
  }
  if (accepted) await deps.leases.create(startingLease(deps, pilot, now));
  else await countUnhealthy(deps, pilot, now);
  return registrationAnswer(deps, pilot, { queueUrl, queues }, now);
}

/** A pilot that failed its node checks is an infrastructure failure of its site, for site health. */
async function countUnhealthy(deps: Pick<Deps, 'sites'>, pilot: Pilot, now: Date): Promise<void> {
  await deps.sites.addUnhealthyPilot(
    pilot.siteId,
    pilot.pilotId,
    { at: pilot.registeredAt, bucket: bucketOf(pilot.registeredAt) },
    { keepFrom: outcomesKeptFrom(now) },
  );
}

/**
 * The pilot a replayed registration registered, checked to be the same pilot. A first try that
 * stopped between the registry and the lease is finished here (its lease is created).
 */
async function registeredBefore(
  deps: Pick<Deps, 'pilots' | 'leases' | 'settings'>,
  sent: Pilot,
  now: Date,
): Promise<Pilot> {
  const pilot = await deps.pilots.get(sent.pilotId);
  if (
    pilot === undefined ||
    pilot.siteId !== sent.siteId ||
    pilot.host !== sent.host ||
    pilot.pid !== sent.pid
  ) {
    throw new ConflictError('this registration key was used by another registration');
  }
  if (pilot.state === 'unhealthy') return pilot;
  if (pilot.endedAt !== undefined) {
    throw new PilotGoneError(`pilot ${pilot.pilotId} is ${pilot.state}; register again with a new key`);
  }
  if ((await deps.leases.get(pilot.pilotId)) === undefined) {
    await deps.leases.create(startingLease(deps, pilot, now));
  }
  return pilot;
}

function failedChecks(health: HealthCheck[] | undefined): HealthCheck[] {
  return (health ?? []).filter((check) => !check.ok);
}

/** A registered pilot's lease, starting: it expires unless the pilot renews it. */
function startingLease(deps: Pick<Deps, 'settings'>, pilot: Pilot, now: Date): PilotLease {
  return {
    pilotId: pilot.pilotId,
    siteId: pilot.siteId,
    host: pilot.host,
    state: 'starting',
    expiresAt: leaseExpiry(now.getTime(), deps.settings.leaseSec),
    jobs: [],
    kill: [],
    jobsRun: 0,
    beatAt: now.toISOString(),
    classes: classesFitting(pilot.resources),
  };
}

/** What a registered pilot is told: whether to work, where, how often to heartbeat, and its credentials. */
async function registrationAnswer(
  deps: Pick<Deps, 'leases' | 'objects' | 'credentials' | 'settings'>,
  pilot: Pilot,
  { queueUrl, queues }: Pick<RegisterPilotResponse, 'queueUrl' | 'queues'>,
  now: Date,
): Promise<RegisterPilotResponse> {
  const accepted = pilot.state !== 'unhealthy';
  const credentials = accepted
    ? await deps.credentials.vend({
        pilotId: pilot.pilotId,
        siteId: pilot.siteId,
        queueUrl,
        bucket: deps.objects.bucket,
        leaseTable: deps.leases.tableName,
      })
    : undefined;
  const failed = failedChecks(pilot.health).map(
    (c) => `${c.name}${c.message === undefined ? '' : ` (${c.message})`}`,
  );
  return {
    pilotId: pilot.pilotId,
    siteId: pilot.siteId,
    accepted,
    ...(accepted ? {} : { reason: `node checks failed: ${failed.join(', ')}` }),
    queueUrl,
    queues,
    bucket: deps.objects.bucket,
    leaseTable: deps.leases.tableName,
    heartbeatSec: deps.settings.heartbeatSec,
    leaseSec: deps.settings.leaseSec,
    serverTime: now.toISOString(),
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
