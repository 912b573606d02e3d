import type { PilotCredentials, RegisterPilotResponse } from '../api/contract.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, fieldIssues, NotFoundError, ValidationError } from '../errors.ts';
import { type Pilot, PilotRegistrationSchema } from './pilot.ts';
import { assertSiteAllowed, knownPilot } from './pilot-access.ts';

/**
 * A pilot registers with its site, resources and node checks. A pilot whose checks failed is
 * recorded as unhealthy (operators see why) and told to take no work: no black-hole pilots.
 * Healthy pilots get short-lived credentials limited to their site, where the deployment vends them.
 */
export async function registerPilot(
  deps: Pick<Deps, 'pilots' | 'sites' | 'queue' | 'objects' | 'credentials' | 'clock' | 'ids' | 'settings'>,
  principal: Principal,
  body: unknown,
): Promise<RegisterPilotResponse> {
  const parsed = PilotRegistrationSchema.safeParse(body);
  if (!parsed.success)
    throw new ValidationError('invalid pilot registration', fieldIssues(parsed.error.issues));
  const registration = parsed.data;
  assertSiteAllowed(principal, registration.siteId);
  const site = await deps.sites.get(registration.siteId);
  if (site === undefined) throw new NotFoundError(`site ${registration.siteId} does not exist`);
  if (site.status === 'offline') throw new ConflictError(`site ${registration.siteId} is offline`);
  const failed = (registration.health ?? []).filter((check) => !check.ok);
  const accepted = failed.length === 0;
  const reason = accepted
    ? undefined
    : `node checks failed: ${failed.map((c) => `${c.name}${c.message === undefined ? '' : ` (${c.message})`}`).join(', ')}`;
  const at = deps.clock.now().toISOString();
  const pilot: Pilot = {
    ...registration,
    pilotId: deps.ids.pilotId(),
    state: accepted ? 'starting' : 'unhealthy',
    registeredAt: at,
    lastHeartbeatAt: at,
    jobsRun: 0,
  };
  const queueUrl = await deps.queue.queueUrl(site.siteId);
  await deps.pilots.register(pilot);
  const credentials = accepted
    ? await deps.credentials.vend({
        pilotId: pilot.pilotId,
        siteId: site.siteId,
        queueUrl,
        bucket: deps.objects.bucket,
      })
    : undefined;
  return {
    pilotId: pilot.pilotId,
    siteId: site.siteId,
    accepted,
    ...(reason === undefined ? {} : { reason }),
    queueUrl,
    bucket: deps.objects.bucket,
    heartbeatSec: deps.settings.heartbeatSec,
    leaseSec: deps.settings.leaseSec,
    serverTime: at,
    ...(credentials === undefined ? {} : { credentials }),
  };
}

/** Fresh credentials for a live pilot, before the ones it holds expire. */
export async function renewPilotCredentials(
  deps: Pick<Deps, 'pilots' | 'queue' | 'objects' | 'credentials'>,
  principal: Principal,
  pilotId: string,
): Promise<PilotCredentials> {
  const pilot = await knownPilot(deps.pilots, principal, pilotId);
  if (!['starting', 'idle', 'busy', 'draining'].includes(pilot.state)) {
    throw new ConflictError(`pilot ${pilotId} is ${pilot.state}; register again`);
  }
  const queueUrl = await deps.queue.queueUrl(pilot.siteId);
  const credentials = await deps.credentials.vend({
    pilotId,
    siteId: pilot.siteId,
    queueUrl,
    bucket: deps.objects.bucket,
  });
  if (credentials === undefined)
    throw new NotFoundError('this deployment vends no credentials; pilots use their own');
  return credentials;
}
