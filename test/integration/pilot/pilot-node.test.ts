/**
 * The real pilot process as a mature grid pilot: node checks before work, what it advertises,
 * stage-in with checksums, the log tarball, looping and output-cap kills, the bounded drain and
 * vended credentials, against the fake API and fauxqs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { CompleteRequest, HeartbeatRequest, PilotCredentials } from '#core/api/contract.ts';
import type { PilotRegistration } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { adler32 } from '#pilot/adler32.ts';
import { EXIT_CODES } from '#pilot/exit-codes.ts';
import { BUCKET, newTaskId, processesWithMarker, usePilotHarness, waitFor } from './pilot-harness.ts';

const h = usePilotHarness();

/** The files of a .tar.gz (regular files only; enough for the pilot's own tarballs). */
function untgz(data: Buffer): Map<string, string> {
  const tar = gunzipSync(data);
  const files = new Map<string, string>();
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12), 8);
    files.set(field(0, 100), tar.subarray(offset + 512, offset + 512 + size).toString('utf8'));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

describe('gluon-pilot run: node checks', () => {
  it('registers a failed check, takes no job, sends nothing more and exits with 3', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, h.makeJob(taskId, 0));
    await h.sendJobMessage(taskId, 0);

    const pilot = h.startPilot([
      '--require-path',
      '/nonexistent/cvmfs/atlas.cern.ch',
      '--require-path',
      '/tmp',
    ]);
    const { code } = await h.exitOf(pilot);
    expect(code, pilot.output()).toBe(EXIT_CODES.UNHEALTHY);

    const [registration] = h.api.bodies<PilotRegistration>('register');
    expect(registration?.health?.find((c) => c.name === 'software-areas')).toEqual({
      name: 'software-areas',
      ok: false,
      value: '1 of 2 readable',
      message: '/nonexistent/cvmfs/atlas.cern.ch: not found',
    });
    expect(registration?.health?.filter((c) => !c.ok).map((c) => c.name)).toEqual(['software-areas']);
    // Registered, then silent: no claim, no heartbeat, the job still waits for another pilot.
    expect(h.api.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual(['/pilots']);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
    expect(pilot.output()).toContain('unhealthy node');
  });

  it('registers every check and its resources, and claims with the walltime it has left', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, h.makeJob(taskId, 0, { outputs: [] }));
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot([
      '--max-jobs',
      '1',
      '--walltime-sec',
      '7200',
      '--tag',
      'avx2',
      '--tag',
      'cvmfs',
      '--require-path',
      '/tmp',
    ]);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);

    const [registration] = h.api.bodies<PilotRegistration>('register');
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
    expect(registration?.health?.find((c) => c.name === 'clock')?.value).toMatch(
      /^skew -?\d+\.\d s ± \d+\.\d s/,
    );
    expect(registration?.resources).toMatchObject({
      cores: 2,
      memoryMB: 4000,
      diskMB: 10000,
      arch: expect.stringMatching(/^(x86_64|aarch64|\w+)$/),
      os: expect.stringMatching(/^linux/),
      gpus: expect.any(Number),
      tags: ['avx2', 'cvmfs'],
    });
    expect(registration?.resources.walltimeLeftSec).toBeGreaterThan(7190);
    // The probe of the API (for reachability and its clock) is one unauthenticated GET.
    expect(h.api.requests.filter((r) => r.method === 'GET')).toEqual([
      { method: 'GET', path: '/', authorization: undefined, body: undefined },
    ]);
    const [claim] = h.api.bodies<{ resources: PilotRegistration['resources'] }>('claim');
    expect(claim?.resources.tags).toEqual(['avx2', 'cvmfs']);
    expect(claim?.resources.walltimeLeftSec).toBeLessThanOrEqual(
      registration?.resources.walltimeLeftSec ?? 0,
    );
  });

  it('exits with 4 when the API does not accept the pilot, taking no job', async () => {
    h.api.refuse = 'site site-a is in test mode';
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, h.makeJob(taskId, 0));
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot([]);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.REFUSED);
    expect(h.api.bodies('claim')).toEqual([]);
    expect(h.api.bodies('heartbeat')).toEqual([]);
    expect(pilot.output()).toContain('site site-a is in test mode');
  });

  it('stops taking work, exits with 3, when the work area runs short of space before a job', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, h.makeJob(taskId, 0));
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--min-free-disk-mb', '0', '--min-free-disk-running-mb', String(2 ** 40)]);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.UNHEALTHY);
    expect(h.api.bodies('claim')).toEqual([]);
    expect(h.api.bodies<HeartbeatRequest>('heartbeat').at(-1)).toEqual({ state: 'exited', jobs: [] });
    expect(pilot.output()).toContain('not enough free space in the work area');
  });

  it('reads its options from a config file, flags winning', async () => {
    const file = join(h.workDir, 'pilot.yaml');
    writeFileSync(
      file,
      `apiUrl: ${h.api.url}\nsite: site-a\nidleExitSec: 1\nmaxLoadPerCore: 1000\ntag: [from-file]\n`,
    );
    const pilot = h.startPilot(['--config', file, '--tag', 'from-flag', '--poll-wait-sec', '1'], {
      withDefaults: false,
    });
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    const [registration] = h.api.bodies<PilotRegistration>('register');
    expect(registration?.resources.tags).toEqual(['from-flag']);
    expect(pilot.output()).toContain('"reason":"idle"');
  });
});

describe('gluon-pilot run: stage-in and the log tarball', () => {
  it('stages in inputs from the task bucket and another bucket, verifying adler32, and fails a mismatch with 1201', async () => {
    const content = 'event data\n'.repeat(1000);
    const other = 'other bucket data\n';
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'inputs/ds1/EVNT.01.root', Body: content }));
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mc/HITS.02.root', Body: other }));
    const good = newTaskId();
    h.api.jobs.set(
      `${good}.0`,
      h.makeJob(good, 0, {
        inputFiles: ['inputs/ds1/EVNT.01.root', `s3://${BUCKET}/mc/HITS.02.root`],
        inputs: [
          { name: 'inputs/ds1/EVNT.01.root', adler32: adler32(content), bytes: content.length },
          { name: `s3://${BUCKET}/mc/HITS.02.root`, adler32: adler32(other) },
        ],
        payload: {
          command: 'sh',
          // The payload sees the local names, in the work directory.
          args: [
            '-c',
            'echo "$GLUON_INPUT_FILES" > out.txt; cat EVNT.01.root HITS.02.root | wc -c >> out.txt',
          ],
          env: { TEST_MARKER: h.marker },
          sandbox: [],
        },
      }),
    );
    const bad = newTaskId();
    h.api.jobs.set(
      `${bad}.0`,
      h.makeJob(bad, 0, {
        inputFiles: ['inputs/ds1/EVNT.01.root'],
        inputs: [{ name: 'inputs/ds1/EVNT.01.root', adler32: '00000001' }],
      }),
    );
    await h.sendJobMessage(good, 0);
    await h.sendJobMessage(bad, 0);

    const pilot = h.startPilot(['--max-jobs', '2']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    const completes = h.api.bodies<CompleteRequest>('complete');
    const goodReport = completes.find((c) => c.taskId === good);
    const badReport = completes.find((c) => c.taskId === bad);
    expect(goodReport?.pilotErrorCode, goodReport?.errorMessage).toBe(PILOT_ERROR_CODES.OK);
    expect(await h.objectText(`tasks/${good}/jobs/0/attempt-1/out.txt`)).toBe(
      `EVNT.01.root,HITS.02.root\n${content.length + other.length}\n`,
    );
    expect(badReport?.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(badReport?.errorMessage).toContain(
      `checksum mismatch for inputs/ds1/EVNT.01.root: got adler32 ${adler32(content)}, expected 00000001`,
    );
    expect(badReport?.usage.wallTimeSec).toBe(0);

    // A failed stage-in still leaves a log tarball with what the pilot knew.
    const tarball = untgz(await h.objectBytes(`tasks/${bad}/jobs/0/attempt-1/log.tgz`));
    const metadata = JSON.parse(tarball.get(`${bad}.0.a1/metadata.json`) ?? '{}') as Record<string, unknown>;
    expect(metadata).toMatchObject({
      taskId: bad,
      jobIndex: 0,
      attempt: 1,
      pilotErrorCode: PILOT_ERROR_CODES.STAGE_IN_FAILED,
      pilotErrorName: 'STAGE_IN_FAILED',
      siteId: 'site-a',
    });
  });

  it('uploads log.tgz with the payload log and the attempt’s metadata next to payload.log', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 3, {
      payload: {
        command: 'sh',
        args: ['-c', 'echo "hello from the payload"; echo result > out.txt'],
        env: { TEST_MARKER: h.marker },
        sandbox: [],
      },
    });
    h.api.jobs.set(`${taskId}.3`, job);
    await h.sendJobMessage(taskId, 3);
    const pilot = h.startPilot(['--max-jobs', '1']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete?.logKey).toBe(`${job.outputPrefix}payload.log`);
    const files = untgz(await h.objectBytes(`${job.outputPrefix}log.tgz`));
    expect([...files.keys()]).toEqual([`${taskId}.3.a1/payload.log`, `${taskId}.3.a1/metadata.json`]);
    expect(files.get(`${taskId}.3.a1/payload.log`)).toBe('hello from the payload\n');
    const metadata = JSON.parse(files.get(`${taskId}.3.a1/metadata.json`) ?? '{}') as Record<string, unknown>;
    expect(metadata).toMatchObject({
      taskId,
      jobIndex: 3,
      pilotId: 'p-testpilot01',
      exitCode: 0,
      pilotErrorCode: 0,
      outputs: [{ name: 'out.txt', adler32: adler32('result\n'), bytes: 7 }],
      payloadLog: { bytes: 23, adler32: adler32('hello from the payload\n') },
    });
  });
});

describe('gluon-pilot run: payload limits', () => {
  it('kills a looping payload (1103) and a flooding one (1104), and goes on to the next job', async () => {
    const looping = newTaskId();
    const flooding = newTaskId();
    const quiet = { env: { TEST_MARKER: h.marker }, sandbox: [] };
    h.api.jobs.set(
      `${looping}.0`,
      h.makeJob(looping, 0, { payload: { command: 'sleep', args: ['30'], ...quiet }, outputs: [] }),
    );
    h.api.jobs.set(
      `${flooding}.0`,
      h.makeJob(flooding, 0, { payload: { command: 'yes', args: ['flood'], ...quiet }, outputs: [] }),
    );
    await h.sendJobMessage(looping, 0);
    await h.sendJobMessage(flooding, 0);
    const pilot = h.startPilot(['--max-jobs', '2', '--looping-sec', '2', '--log-cap-mb', '1']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    const completes = h.api.bodies<CompleteRequest>('complete');
    const loopingReport = completes.find((c) => c.taskId === looping);
    const floodReport = completes.find((c) => c.taskId === flooding);
    expect(loopingReport?.pilotErrorCode).toBe(PILOT_ERROR_CODES.LOOPING);
    expect(loopingReport?.usage.wallTimeSec).toBeLessThan(15);
    expect(floodReport?.pilotErrorCode).toBe(PILOT_ERROR_CODES.OUTPUT_TOO_LARGE);
    expect(
      (await h.objectBytes(`tasks/${flooding}/jobs/0/attempt-1/payload.log`)).length,
    ).toBeLessThanOrEqual(2 ** 20);
    expect(processesWithMarker(h.marker)).toEqual([]);
  });
});

describe('gluon-pilot run: drain', () => {
  it('on SIGTERM heartbeats draining, kills a payload that ignores SIGTERM, reports EVICTED and exits within --drain-sec', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(
      `${taskId}.0`,
      h.makeJob(taskId, 0, {
        payload: {
          command: 'sh',
          args: ['-c', 'trap "" TERM; sleep 60'],
          env: { TEST_MARKER: h.marker },
          sandbox: [],
        },
        outputs: [],
      }),
    );
    await h.sendJobMessage(taskId, 0);
    // A kill grace far beyond the drain: the drain bound must win.
    const pilot = h.startPilot(['--kill-grace-sec', '60', '--drain-sec', '3']);
    await waitFor('the job to be running', () =>
      h.api
        .bodies<HeartbeatRequest>('heartbeat')
        .some((beat) => beat.jobs.some((j) => j.phase === 'running')),
    );
    const signalledAt = Date.now();
    pilot.child.kill('SIGTERM');
    const { code } = await h.exitOf(pilot, 10_000);
    const tookMs = Date.now() - signalledAt;
    expect(code, pilot.output()).toBe(EXIT_CODES.OK);
    // 3 s of drain plus the process's own exit (no payload grace of 60 s).
    expect(tookMs).toBeLessThan(4500);
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete?.pilotErrorCode).toBe(PILOT_ERROR_CODES.EVICTED);
    const states = h.api.bodies<HeartbeatRequest>('heartbeat').map((b) => b.state);
    expect(states).toContain('draining');
    expect(states.at(-1)).toBe('exited');
    expect(states.indexOf('draining')).toBeLessThan(states.length - 1);
    expect(processesWithMarker(h.marker)).toEqual([]);
  });
});

describe('gluon-pilot run: vended credentials', () => {
  it('uses the credentials vended at registration and renews them before they expire', async () => {
    let n = 0;
    h.api.vend = (): PilotCredentials => ({
      accessKeyId: `AKIAVENDED${++n}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `session-${n}`,
      // 3 s lifetime: renewed at half-life, so several times during this test.
      expiration: new Date(Date.now() + 3000).toISOString(),
    });
    const taskId = newTaskId();
    h.api.jobs.set(
      `${taskId}.0`,
      h.makeJob(taskId, 0, {
        payload: {
          command: 'sh',
          args: ['-c', 'sleep 3; echo done > out.txt'],
          env: { TEST_MARKER: h.marker },
          sandbox: [],
        },
      }),
    );
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--max-jobs', '1', '--credentials', 'vended']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.OK);
    expect(pilot.output()).toContain('using vended credentials');
    expect(h.api.bodies('credentials').length).toBeGreaterThanOrEqual(1);
    expect(
      h.api.requests
        .filter((r) => r.path === '/pilots/p-testpilot01/credentials')
        .every((r) => r.authorization === `Bearer ${h.api.token}`),
    ).toBe(true);
    // The output and the log went up to S3 and the message was deleted, with renewed credentials.
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete?.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(await h.objectText(`tasks/${taskId}/jobs/0/attempt-1/out.txt`)).toBe('done\n');
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(pilot.output()).not.toContain('secret-');
  });

  it('with --credentials vended, exits with 1 when the API vends none', async () => {
    const pilot = h.startPilot(['--credentials', 'vended', '--idle-exit-sec', '2']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(EXIT_CODES.FAILURE);
    expect(pilot.output()).toContain('the API vended no credentials');
    expect(h.api.bodies<HeartbeatRequest>('heartbeat').at(-1)).toEqual({ state: 'exited', jobs: [] });
  });
});
