/**
 * The real pilot process (`node pilot/main.ts run …`) against a fake of the API's pilot routes
 * and a real fauxqs for SQS and S3: the job loop, queue handling, signals and options.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import type { CompleteRequest, HeartbeatRequest } from '#core/api/contract.ts';
import type { PilotRegistration } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { adler32 } from '#pilot/adler32.ts';
import { PILOT_ID } from './fake-api.ts';
import { BUCKET, newTaskId, processesWithMarker, SITE, usePilotHarness, waitFor } from './pilot-harness.ts';

const h = usePilotHarness();

describe('gluon-pilot run', () => {
  it('registers, claims, runs a job, uploads its output and log, and reports success', async () => {
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 0);
    h.api.jobs.set(`${taskId}.0`, job);
    await h.sendJobMessage(taskId, 0);

    const pilot = h.startPilot(['--max-jobs', '1', '--batch-id', 'slurm-42', '--host', 'wn01.example.org']);
    const { code } = await h.exitOf(pilot);
    expect(code, pilot.output()).toBe(0);

    const [registration] = h.api.bodies<PilotRegistration>('register');
    expect(registration).toMatchObject({
      siteId: SITE,
      host: 'wn01.example.org',
      batchId: 'slurm-42',
      resources: { cores: 2, memoryMB: 4000, diskMB: 10000 },
    });
    expect(registration?.resources.walltimeLeftSec).toBeGreaterThan(86_390);
    expect(registration?.pid).toBe(pilot.child.pid);
    const posts = h.api.requests.filter((r) => r.method === 'POST');
    expect(posts.every((r) => r.authorization === `Bearer ${h.api.token}`)).toBe(true);
    expect(h.api.requests.map((r) => r.path)).toContain(`/pilots/${PILOT_ID}/claim`);
    expect(h.api.bodies('claim')).toEqual([
      expect.objectContaining({
        taskId,
        jobIndex: 0,
        attempt: 1,
        resources: expect.objectContaining({ cores: 2 }),
      }),
    ]);

    const completes = h.api.bodies<CompleteRequest>('complete');
    expect(completes).toHaveLength(1);
    const complete = completes[0] as CompleteRequest;
    const prefix = job.outputPrefix;
    expect(complete).toMatchObject({
      taskId,
      jobIndex: 0,
      attempt: 1,
      exitCode: 0,
      pilotErrorCode: PILOT_ERROR_CODES.OK,
      outputs: [{ name: 'out.txt', key: `${prefix}out.txt`, bytes: 3, adler32: adler32('hi\n') }],
      logKey: `${prefix}payload.log`,
      host: 'wn01.example.org',
    });
    expect(complete.usage.wallTimeSec).toBeGreaterThan(0);
    expect(await h.objectText(`${prefix}out.txt`)).toBe('hi\n');
    expect(await h.objectText(`${prefix}payload.log`)).toBe('');
    expect(await h.messageCount(h.queueUrl)).toBe(0);

    const heartbeats = h.api.bodies<HeartbeatRequest>('heartbeat');
    expect(heartbeats).toContainEqual({
      state: 'busy',
      jobs: [{ taskId, jobIndex: 0, attempt: 1, phase: 'running' }],
    });
    expect(heartbeats.at(-1)).toEqual({ state: 'exited', jobs: [] });
    // The job's work directory and log are cleaned up after the report.
    expect(readdirSync(h.workDir)).toEqual([]);
  });

  it('stages in a sandbox file, runs it and reports a missing declared output as OUTPUT_MISSING', async () => {
    const script = '#!/bin/sh\necho "sandbox ran for job $GLUON_JOB_INDEX"\n';
    const sha256 = createHash('sha256').update(script).digest('hex');
    const key = `sandboxes/${randomUUID()}/run.sh`;
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: script }));
    const taskId = newTaskId();
    const job = h.makeJob(taskId, 4, {
      payload: {
        command: './run.sh',
        args: [],
        env: { TEST_MARKER: h.marker },
        sandbox: [{ name: 'run.sh', key, sha256, bytes: Buffer.byteLength(script) }],
      },
      outputs: ['result.root'],
    });
    h.api.jobs.set(`${taskId}.4`, job);
    await h.sendJobMessage(taskId, 4);

    const pilot = h.startPilot(['--max-jobs', '1']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(0);
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete).toMatchObject({
      pilotErrorCode: PILOT_ERROR_CODES.OUTPUT_MISSING,
      exitCode: 0,
      outputs: [],
    });
    expect(complete?.errorMessage).toContain('result.root');
    expect(await h.objectText(`${job.outputPrefix}payload.log`)).toBe('sandbox ran for job 4\n');
  });

  it('reports STAGE_IN_FAILED when a sandbox file does not match its checksum', async () => {
    const key = `sandboxes/${randomUUID()}/run.sh`;
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'echo tampered\n' }));
    const taskId = newTaskId();
    h.api.jobs.set(
      `${taskId}.0`,
      h.makeJob(taskId, 0, {
        payload: {
          command: './run.sh',
          args: [],
          env: {},
          sandbox: [{ name: 'run.sh', key, sha256: '0'.repeat(64), bytes: 14 }],
        },
      }),
    );
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--max-jobs', '1']);
    expect((await h.exitOf(pilot, 60_000)).code, pilot.output()).toBe(0);
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete?.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(complete?.errorMessage).toContain('checksum mismatch');
  });

  it('leaves a malformed message for the dead-letter queue and exits after idle-exit-sec', async () => {
    await h.sqs.send(
      new SendMessageCommand({ QueueUrl: h.queueUrl, MessageBody: 'this is not a job message' }),
    );
    const pilot = h.startPilot(['--idle-exit-sec', '5']);
    const { code } = await h.exitOf(pilot);
    expect(code, pilot.output()).toBe(0);
    expect(h.api.bodies('claim')).toEqual([]);
    expect(pilot.output()).toContain('malformed job message');
    // Never deleted: received again until SQS moved it to the DLQ.
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(await h.messageCount(h.dlqUrl)).toBe(1);
    const heartbeats = h.api.bodies<HeartbeatRequest>('heartbeat');
    expect(heartbeats).toContainEqual({ state: 'idle', jobs: [] });
    expect(heartbeats.at(-1)).toEqual({ state: 'exited', jobs: [] });
  });

  it('acknowledges a stale message without running anything', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, { outcome: 'stale', reason: 'attempt 1 is already running elsewhere' });
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--idle-exit-sec', '2']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(0);
    expect(h.api.bodies('claim')).toHaveLength(1);
    expect(h.api.bodies('complete')).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(0);
    expect(await h.messageCount(h.dlqUrl)).toBe(0);
  });

  it('drains on SIGTERM: ends the payload, reports EVICTED and exits within 15 s', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(
      `${taskId}.0`,
      h.makeJob(taskId, 0, {
        payload: { command: 'sleep', args: ['30'], env: { TEST_MARKER: h.marker }, sandbox: [] },
        outputs: [],
      }),
    );
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot([]);
    await waitFor('the job to be running', () =>
      h.api
        .bodies<HeartbeatRequest>('heartbeat')
        .some((beat) => beat.jobs.some((j) => j.phase === 'running')),
    );
    expect(processesWithMarker(h.marker).length).toBeGreaterThan(0);

    const signalledAt = Date.now();
    pilot.child.kill('SIGTERM');
    const { code } = await h.exitOf(pilot, 20_000);
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    expect(code, pilot.output()).toBe(0);
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete).toMatchObject({
      taskId,
      jobIndex: 0,
      attempt: 1,
      pilotErrorCode: PILOT_ERROR_CODES.EVICTED,
    });
    expect(complete?.signal).toBe('SIGTERM');
    expect(h.api.bodies<HeartbeatRequest>('heartbeat').at(-1)).toEqual({ state: 'exited', jobs: [] });
    expect(processesWithMarker(h.marker)).toEqual([]);
  });

  it('exits at once on a second signal, killing a payload that ignores SIGTERM', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(
      `${taskId}.0`,
      h.makeJob(taskId, 0, {
        payload: {
          command: 'sh',
          args: ['-c', 'trap "" TERM; sleep 30'],
          env: { TEST_MARKER: h.marker },
          sandbox: [],
        },
        outputs: [],
      }),
    );
    await h.sendJobMessage(taskId, 0);
    // A long grace: the drain after the first signal would wait for it.
    const pilot = h.startPilot(['--kill-grace-sec', '60']);
    await waitFor('the job to be running', () =>
      h.api
        .bodies<HeartbeatRequest>('heartbeat')
        .some((beat) => beat.jobs.some((j) => j.phase === 'running')),
    );
    pilot.child.kill('SIGTERM');
    await waitFor('the pilot to start draining', () => pilot.output().includes('"msg":"stopping"'));
    pilot.child.kill('SIGTERM');
    const { code } = await h.exitOf(pilot, 10_000);
    expect(code).toBe(143);
    await waitFor('the payload to be gone', () => processesWithMarker(h.marker).length === 0, 5000);
  });

  it('exits with 4, handing its message back, when the API answers 409: it no longer takes the pilot as live', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, { outcome: 'stale', reason: 'unused' });
    h.api.gone = true;
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--idle-exit-sec', '30']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(4);
    // One refused claim, then no more: a zombie pilot would spin on the message until the DLQ.
    expect(h.api.bodies('claim')).toHaveLength(1);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
    expect(await h.messageCount(h.dlqUrl)).toBe(0);
    h.api.gone = false;
  });

  it('hands an unfit job back to the queue for others', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, { outcome: 'unfit', reason: 'needs 64 cores' });
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--idle-exit-sec', '3']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(0);
    // Claimed once: afterwards the message stayed invisible (30 s) instead of coming straight back.
    expect(h.api.bodies('claim')).toHaveLength(1);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
    expect(await h.messageCount(h.dlqUrl)).toBe(0);
  });

  it('kills the payload and reports CANCELLED when a heartbeat answer says the job was cancelled', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(
      `${taskId}.0`,
      h.makeJob(taskId, 0, {
        payload: { command: 'sleep', args: ['30'], env: { TEST_MARKER: h.marker }, sandbox: [] },
        outputs: [],
      }),
    );
    h.api.kill.set(`${taskId}.0`, 'task cancelled by its owner');
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--max-jobs', '1']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(0);
    const [complete] = h.api.bodies<CompleteRequest>('complete');
    expect(complete?.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
    expect(processesWithMarker(h.marker)).toEqual([]);
  });

  it('takes no job when less than a minute of its own walltime is left', async () => {
    const taskId = newTaskId();
    h.api.jobs.set(`${taskId}.0`, h.makeJob(taskId, 0));
    await h.sendJobMessage(taskId, 0);
    const pilot = h.startPilot(['--walltime-sec', '50']);
    expect((await h.exitOf(pilot)).code, pilot.output()).toBe(0);
    expect(pilot.output()).toContain('"reason":"walltime"');
    expect(h.api.bodies('register')).toHaveLength(1);
    expect(h.api.bodies('claim')).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });

  it('exits with code 2 naming the option when an option is bad', async () => {
    const badCores = h.startPilot(['--cores', 'many']);
    expect((await h.exitOf(badCores)).code).toBe(2);
    expect(badCores.output()).toContain('--cores');

    const badWait = h.startPilot(['--poll-wait-sec', '30']);
    expect((await h.exitOf(badWait)).code).toBe(2);
    expect(badWait.output()).toContain('--poll-wait-sec');

    const missing = h.startPilot(['--token', 'x', '--site', SITE], { withDefaults: false });
    expect((await h.exitOf(missing)).code).toBe(2);
    expect(missing.output()).toContain('--api-url');

    const unknown = h.startPilot(['--no-such-option'], { withDefaults: false });
    expect((await h.exitOf(unknown)).code).toBe(2);
    expect(unknown.output()).toContain('--no-such-option');
    expect(h.api.requests).toEqual([]);
  });
});
