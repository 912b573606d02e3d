import type { RegisterPilotResponse } from '../api.ts';
import { ConflictError, fieldIssues, NotFoundError, ValidationError } from '../errors.ts';
import { type Pilot, PilotRegistrationSchema } from '../model/pilot.ts';
import type { Deps, Principal } from './deps.ts';
import { assertSiteAllowed } from './pilot-access.ts';

export async function registerPilot(
  deps: Pick<Deps, 'pilots' | 'sites' | 'queue' | 'objects' | 'clock' | 'ids' | 'settings'>,
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
  const at = deps.clock.now().toISOString();
  const pilot: Pilot = {
    ...registration,
    pilotId: deps.ids.pilotId(),
    state: 'starting',
    registeredAt: at,
    lastHeartbeatAt: at,
    jobsRun: 0,
  };
  const queueUrl = await deps.queue.queueUrl(site.siteId);
  await deps.pilots.register(pilot);
  return {
    pilotId: pilot.pilotId,
    siteId: site.siteId,
    queueUrl,
    bucket: deps.objects.bucket,
    heartbeatSec: deps.settings.heartbeatSec,
    leaseSec: deps.settings.leaseSec,
    serverTime: at,
  };
}
