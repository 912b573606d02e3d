/**
 * The `gluon-pilot run` process (`node pilot/main.ts run …`) against the fake API, fauxqs for SQS
 * and S3 and DynamoDB Local for its lease: the wiring of run-command.ts (options, node checks,
 * AWS clients and credentials, the lease table the API names) and the signals.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PilotCredentials } from '#core/api/pilots.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { EXIT_CODES } from '#pilot/exit-codes.ts';
import { newTaskId, processesWithMarker, SITE, usePilotHarness, waitFor } from './pilot-harness.ts';

const h = usePilotHarness({ leases: 'dynamodb' });

const sleeping = (marker: string, script: string) => ({
  payload: { command: 'sh', args: ['-c', script], env: { TEST_MARKER: marker }, sandbox: [] },
  outputs: [],
});

/** Waits until the pilot's lease lists the job's attempt and its payload runs. */
async function running(taskId: string): Promise<void> {
  await waitFor('the job to be running', async () => {
    const lease = await h.lease();
    return lease?.jobs.includes(`${taskId}.0.1`) === true && processesWithMarker(h.marker).length > 0;
  });
}

describe('gluon-pilot run', () => {
  it('runs a job, renewing its lease in the table the API named, and records its exit there', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0, {
      payload: {
        command: 'sh',
        args: ['-c', 'sleep 2; echo hi > out.txt'],
        env: { TEST_MARKER: h.marker },
        sandbox: [],
      },
    });
    await h.queueJob(job);
    const pilot = h.startPilot(['--max-jobs', '1', '--batch-id', 'slurm-42', '--host', 'wn01.example.org']);
    await waitFor('a heartbeat of the busy pilot', async () => (await h.lease())?.state === 'busy');
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);

    expect(h.api.bodies('registerPilot')[0]).toMatchObject({
      siteId: SITE,
      host: 'wn01.example.org',
      batchId: 'slurm-42',
      pid: pilot.child.pid,
    });
    expect(h.api.reports()).toEqual([
      expect.objectContaining({
        taskId,
        pilotErrorCode: PILOT_ERROR_CODES.OK,
        log: expect.objectContaining({ key: job.logKey }),
      }),
    ]);
    expect(await h.objectText(`${job.outputPrefix}out.txt`)).toBe('hi\n');
    expect(await h.lease()).toMatchObject({ state: 'exited', jobsRun: 1, jobs: [] });
    expect(pilot.output()).toContain('"reason":"max-jobs"');
  });

  it('exits with 2 naming the option when an option is bad, calling nothing', async () => {
    const badCores = h.startPilot(['--cores', 'many']);
    expect((await h.exitOf(badCores)).code).toBe(EXIT_CODES.USAGE);
    expect(badCores.output()).toContain('--cores');

    const badWait = h.startPilot(['--poll-wait-sec', '30']);
    expect((await h.exitOf(badWait)).code).toBe(EXIT_CODES.USAGE);
    expect(badWait.output()).toContain('--poll-wait-sec');

    const missing = h.startPilot(['--token', 'x', '--site', SITE], { withDefaults: false });
    expect((await h.exitOf(missing)).code).toBe(EXIT_CODES.USAGE);
    expect(missing.output()).toContain('--api-url');

    const unknown = h.startPilot(['--no-such-option'], { withDefaults: false });
    expect((await h.exitOf(unknown)).code).toBe(EXIT_CODES.USAGE);
    expect(unknown.output()).toContain('--no-such-option');
    expect(h.api.requests).toEqual([]);
  });

  it('registers every node check and its resources, probing the API once without a token', async () => {
    const pilot = h.startPilot([
      '--idle-exit-sec',
      '1',
      '--walltime-sec',
      '7200',
      '--tag',
      'avx2',
      '--require-path',
      '/tmp',
    ]);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    const [registration] = h.api.bodies('registerPilot');
    expect(registration?.health?.map((c) => [c.name, c.ok])).toEqual([
      ['disk', true],
      ['memory', true],
      ['cores', true],
      ['load', true],
      ['software-areas', true],
      ['api', true],
      ['clock', true],
      ['token', true],
    ]);
    expect(registration?.resources).toMatchObject({
      cores: 2,
      memoryMB: 4000,
      diskMB: 10_000,
      os: expect.stringMatching(/^linux/),
      gpus: expect.any(Number),
      tags: ['avx2'],
    });
    expect(registration?.resources.walltimeLeftSec).toBeGreaterThan(7190);
    expect(registration?.resources.walltimeLeftSec).toBeLessThanOrEqual(7200);
    expect(h.api.requests.filter((r) => r.method === 'GET')).toEqual([
      { method: 'GET', path: '/', operation: undefined, authorization: undefined, body: undefined },
    ]);
    expect(pilot.output()).toContain('"reason":"idle"');
  });

  it('registers a failed node check, then takes no job, sends nothing more and exits with 3', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0));
    const pilot = h.startPilot([
      '--require-path',
      '/nonexistent/cvmfs/atlas.cern.ch',
      '--require-path',
      '/tmp',
    ]);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.UNHEALTHY);
    const [registration] = h.api.bodies('registerPilot');
    expect(registration?.health?.find((c) => c.name === 'software-areas')).toEqual({
      name: 'software-areas',
      ok: false,
      value: '1 of 2 readable',
      message: '/nonexistent/cvmfs/atlas.cern.ch: not found',
    });
    expect(h.api.requests.filter((r) => r.method === 'POST').map((r) => r.operation)).toEqual([
      'registerPilot',
    ]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });

  it('exits with 4, taking no job, when the API does not accept the pilot', async () => {
    h.api.refuse = 'site site-a takes no pilots now';
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const pilot = h.startPilot([]);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.REFUSED);
    expect(h.api.bodies('claimJob')).toEqual([]);
    expect(pilot.output()).toContain('site site-a takes no pilots now');
  });

  it('reads its options from a config file, flags winning', async () => {
    const file = join(h.workDir, 'pilot.yaml');
    writeFileSync(
      file,
      `apiUrl: ${h.api.url}\nsite: ${SITE}\nidleExitSec: 1\nmaxLoadPerCore: 1000\ntag: [from-file]\n`,
    );
    const pilot = h.startPilot(['--config', file, '--tag', 'from-flag', '--poll-wait-sec', '1'], {
      withDefaults: false,
    });
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    expect(h.api.bodies('registerPilot')[0]?.resources.tags).toEqual(['from-flag']);
    expect(pilot.output()).toContain('"reason":"idle"');
  });
});

describe('gluon-pilot run: signals', () => {
  it('drains on SIGTERM: its lease says draining, the payload is ended and reported EVICTED, and it exits with 0', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0, sleeping(h.marker, 'sleep 30')));
    const pilot = h.startPilot([]);
    await running(taskId);
    pilot.child.kill('SIGTERM');
    await waitFor('the lease to say draining', async () => (await h.lease())?.state === 'draining', 10_000);
    expect((await h.exitOf(pilot, 20_000)).code, pilot.output()).toBe(EXIT_CODES.OK);
    expect(h.api.reports()).toEqual([
      expect.objectContaining({ taskId, pilotErrorCode: PILOT_ERROR_CODES.EVICTED, signal: 'SIGTERM' }),
    ]);
    expect((await h.lease())?.state).toBe('exited');
    expect(processesWithMarker(h.marker)).toEqual([]);
  });

  it('exits at once with 128+15 on a second signal, killing a payload that ignores SIGTERM', async () => {
    const taskId = newTaskId();
    await h.queueJob(h.makeJob(taskId, 0, sleeping(h.marker, 'trap "" TERM; sleep 30')));
    // A long grace: the drain after the first signal would wait for it.
    const pilot = h.startPilot(['--kill-grace-sec', '60']);
    await running(taskId);
    pilot.child.kill('SIGTERM');
    await waitFor('the pilot to start draining', () => pilot.output().includes('"message":"stopping"'));
    pilot.child.kill('SIGTERM');
    expect((await h.exitOf(pilot, 10_000)).code).toBe(128 + 15);
    await waitFor('the payload to be gone', () => processesWithMarker(h.marker).length === 0, 5000);
  });
});

describe('gluon-pilot run: vended credentials', () => {
  it('uses the credentials vended at registration for SQS, S3 and its lease, and renews them before they expire', async () => {
    let n = 0;
    h.api.vend = (): PilotCredentials => ({
      accessKeyId: `AKIAVENDED${++n}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `session-${n}`,
      // 3 s lifetime: renewed at half-life, so several times during this test.
      expiration: new Date(Date.now() + 3000).toISOString(),
    });
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0, {
      payload: {
        command: 'sh',
        args: ['-c', 'sleep 3; echo done > out.txt'],
        env: { TEST_MARKER: h.marker },
        sandbox: [],
      },
    });
    await h.queueJob(job);
    const pilot = h.startPilot(['--max-jobs', '1', '--credentials', 'vended']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    expect(pilot.output()).toContain('using vended credentials');
    expect(h.api.bodies('renewPilotCredentials').length).toBeGreaterThanOrEqual(1);
    expect(
      h.api.requests
        .filter((r) => r.operation === 'renewPilotCredentials')
        .every(
          (r) =>
            r.authorization === `Bearer ${h.api.token}` && r.path === `/pilots/${h.api.pilotId}/credentials`,
        ),
    ).toBe(true);
    expect(h.api.reports()).toEqual([
      expect.objectContaining({ taskId, pilotErrorCode: PILOT_ERROR_CODES.OK }),
    ]);
    expect(await h.objectText(`${job.outputPrefix}out.txt`)).toBe('done\n');
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(await h.lease()).toMatchObject({ state: 'exited', jobsRun: 1 });
    expect(pilot.output()).not.toContain('secret-');
  });

  it('exits with 1, taking no job, when run with --credentials vended and the API vends none', async () => {
    await h.queueJob(h.makeJob(newTaskId(), 0));
    const pilot = h.startPilot(['--credentials', 'vended', '--idle-exit-sec', '2']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.FAILURE);
    expect(pilot.output()).toContain('the API vended no credentials');
    expect(h.api.bodies('claimJob')).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });
});
