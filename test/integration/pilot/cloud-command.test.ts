/**
 * `gluon-pilot cloud` as a process, against the fake API, fauxqs and a test IMDS whose tags are the
 * provisioner's: it starts one `run --cloud ec2` pilot per slot, the pilots register the instance and
 * share it, and it exits when they have (idle, or drained after a SIGTERM it passed on).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { EXIT_CODES } from '#pilot/exit-codes.ts';
import { newTaskId, processesWithMarker, SITE, usePilotHarness, waitFor } from './pilot-harness.ts';
import { startTestImds, type TestImds } from './test-imds.ts';

const h = usePilotHarness({ leases: 'dynamodb' });
let imds: TestImds | undefined;
afterEach(async () => {
  await imds?.close();
  imds = undefined;
});

async function instance(idleExitSec: number): Promise<TestImds> {
  imds = await startTestImds({
    instanceId: 'i-0cloud0000000001',
    // 2 vCPUs, 8 GiB: two slots of 1 core and 1000 MB.
    instanceType: 'm5.large',
    lifeCycle: 'spot',
    tags: {
      [CLOUD_TAGS.stage]: 'test',
      [CLOUD_TAGS.site]: SITE,
      [CLOUD_TAGS.pilots]: 'slot',
      [CLOUD_TAGS.slotCores]: '1',
      [CLOUD_TAGS.slotMemoryMB]: '1000',
      [CLOUD_TAGS.idleExitSec]: String(idleExitSec),
    },
  });
  return imds;
}

function startCloud(imdsUrl: string) {
  return h.startPilot(['--api-url', h.api.url, '--imds-endpoint', imdsUrl], {
    subcommand: 'cloud',
    withDefaults: false,
    env: {
      GLUON_WORK_DIR: h.workDir,
      GLUON_POLL_WAIT_SEC: '1',
      GLUON_KILL_GRACE_SEC: '1',
      GLUON_DISK_MB: '10000',
      GLUON_MAX_LOAD_PER_CORE: '1000',
    },
  });
}

const sleeping = (marker: string, seconds: number) => ({
  payload: { command: 'sh', args: ['-c', `sleep ${seconds}`], env: { TEST_MARKER: marker }, sandbox: [] },
  outputs: [],
});

describe('gluon-pilot cloud', () => {
  it('starts one pilot per slot; they register the instance, run the jobs, and the command exits when they are idle', async () => {
    const url = (await instance(3)).url;
    const tasks = [newTaskId(), newTaskId()];
    for (const taskId of tasks) await h.queueJob(h.makeJob(taskId, 0));
    const cloud = startCloud(url);
    const exit = await h.exitOf(cloud, 60_000);
    expect(exit.code, cloud.output()).toBe(EXIT_CODES.OK);

    const registrations = h.api.bodies('registerPilot');
    expect(registrations).toHaveLength(2);
    for (const registration of registrations) {
      expect(registration).toMatchObject({
        siteId: SITE,
        resources: { cores: 1, memoryMB: 1000 },
        cloud: {
          provider: 'ec2',
          instanceId: 'i-0cloud0000000001',
          instanceType: 'm5.large',
          market: 'spot',
          pilotsOnInstance: 2,
        },
      });
    }
    expect(
      h.api
        .reports()
        .map((r) => [r.taskId, r.pilotErrorCode])
        .sort(),
    ).toEqual(tasks.map((t) => [t, PILOT_ERROR_CODES.OK]).sort());
    expect(cloud.output()).toContain('"message":"all pilots have exited"');
  });

  it('passes SIGTERM on: the pilots drain (their jobs evicted) and the command exits', async () => {
    const url = (await instance(60)).url;
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0, sleeping(h.marker, 120)));
    const cloud = startCloud(url);
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0, 40_000);
    await waitFor('both pilots registered', () => h.api.bodies('registerPilot').length === 2, 20_000);
    cloud.child.kill('SIGTERM');
    const exit = await h.exitOf(cloud, 40_000);
    expect(exit.code, cloud.output()).toBe(EXIT_CODES.OK);
    expect(h.api.reports()).toEqual([
      expect.objectContaining({ taskId, pilotErrorCode: PILOT_ERROR_CODES.EVICTED }),
    ]);
    expect(processesWithMarker(h.marker)).toEqual([]);
  });

  it('exits with 2 naming the tag when the instance has no gluon:site tag', async () => {
    imds = await startTestImds({ tags: { [CLOUD_TAGS.pilots]: 'slot' } });
    const cloud = startCloud(imds.url);
    expect((await h.exitOf(cloud)).code).toBe(EXIT_CODES.USAGE);
    expect(cloud.output()).toContain('gluon:site is missing');
    expect(h.api.requests).toEqual([]);
  });
});
