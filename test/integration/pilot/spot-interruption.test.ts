/**
 * `gluon-pilot run --cloud ec2` as a process, against the fake API, fauxqs and a test IMDS
 * (IMDSv2, token enforced): it registers its instance, drains before a Spot interruption notice's
 * time (the job evicted, with the notice in its report), and retires on a rebalance recommendation.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { EXIT_CODES } from '#pilot/exit-codes.ts';
import { newTaskId, processesWithMarker, usePilotHarness, waitFor } from './pilot-harness.ts';
import { startTestImds, type TestImds } from './test-imds.ts';

const h = usePilotHarness({ leases: 'dynamodb' });
let imds: TestImds | undefined;
afterEach(async () => {
  await imds?.close();
  imds = undefined;
});

const sleeping = (marker: string, script: string) => ({
  payload: { command: 'sh', args: ['-c', script], env: { TEST_MARKER: marker }, sandbox: [] },
  outputs: [],
});

/** A `--cloud ec2` pilot reading `imds` every second. */
function ec2Pilot(server: TestImds, args: string[]) {
  return h.startPilot(['--cloud', 'ec2', '--imds-endpoint', server.url, '--imds-poll-sec', '1', ...args]);
}

describe('a pilot on a Spot instance', () => {
  it('registers its instance, and on an interruption notice evicts its job, reports it and exits before the notice’s time', async () => {
    imds = await startTestImds({
      instanceId: 'i-0spot00000000001',
      instanceType: 'm5.xlarge',
      lifeCycle: 'spot',
      availabilityZone: 'us-east-1c',
    });
    const taskId = newTaskId();
    // A payload that ignores SIGTERM: the drain must kill it in time.
    await h.queueJob(h.makeJob(taskId, 0, sleeping(h.marker, 'trap "" TERM; sleep 120')));
    const pilot = ec2Pilot(imds, [
      '--pilots-on-instance',
      '2',
      '--drain-sec',
      '120',
      '--kill-grace-sec',
      '3',
      '--idle-exit-sec',
      '60',
    ]);
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0, 30_000);
    expect(h.api.bodies('registerPilot')[0]?.cloud).toEqual({
      provider: 'ec2',
      instanceId: 'i-0spot00000000001',
      instanceType: 'm5.xlarge',
      market: 'spot',
      availabilityZone: 'us-east-1c',
      pilotsOnInstance: 2,
    });

    // IMDS gives whole seconds; 20 s ahead (a real notice gives 120 s).
    const noticeAt = Math.floor((Date.now() + 20_000) / 1000) * 1000;
    imds.interrupt(new Date(noticeAt));
    const exit = await h.exitOf(pilot, 40_000);
    const exitedAt = Date.now();
    expect(exit.code, pilot.output()).toBe(EXIT_CODES.OK);
    expect(exitedAt).toBeLessThan(noticeAt);

    const [report] = h.api.reports();
    expect(report).toMatchObject({ taskId, jobIndex: 0, pilotErrorCode: PILOT_ERROR_CODES.EVICTED });
    expect(report?.errorMessage).toContain(
      `Spot interruption notice (terminate at ${new Date(noticeAt).toISOString().replace('.000Z', 'Z')})`,
    );
    expect(await h.lease()).toMatchObject({ state: 'exited', jobs: [] });
    expect(processesWithMarker(h.marker)).toEqual([]);
    expect(imds.refused).toBe(0);
    expect(pilot.output()).toContain('draining before the Spot interruption');
  });

  it('on a rebalance recommendation takes no new job, lets the running one finish, and exits', async () => {
    imds = await startTestImds({ lifeCycle: 'on-demand' });
    const first = newTaskId();
    const second = newTaskId();
    await h.queueJob(h.makeJob(first, 0, sleeping(h.marker, 'sleep 4')));
    const pilot = ec2Pilot(imds, ['--idle-exit-sec', '60']);
    await waitFor('the payload to run', () => processesWithMarker(h.marker).length > 0, 30_000);
    imds.rebalance();
    await waitFor('the rebalance to be seen', () => pilot.output().includes('rebalance recommendation'));
    await h.queueJob(h.makeJob(second, 0));

    const exit = await h.exitOf(pilot, 40_000);
    expect(exit.code, pilot.output()).toBe(EXIT_CODES.OK);
    expect(pilot.output()).toContain('"reason":"retiring"');
    expect(h.api.bodies('registerPilot')[0]?.cloud).toMatchObject({ provider: 'ec2', market: 'on-demand' });
    expect(h.api.reports()).toEqual([
      expect.objectContaining({ taskId: first, pilotErrorCode: PILOT_ERROR_CODES.OK }),
    ]);
    expect(h.api.bodies('claimJob').map((c) => c.taskId)).toEqual([first]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });

  it('exits with 1 naming the endpoint when --cloud ec2 finds no IMDS, calling nothing', async () => {
    const pilot = h.startPilot(['--cloud', 'ec2', '--imds-endpoint', 'http://127.0.0.1:9']);
    expect((await h.exitOf(pilot)).code).toBe(EXIT_CODES.FAILURE);
    expect(pilot.output()).toContain('instance metadata service at http://127.0.0.1:9 does not answer');
    expect(h.api.requests).toEqual([]);
  });
});
