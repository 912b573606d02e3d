import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '#local/stack.ts';
import { freePort } from '#local/stand-ins.ts';
import { Api, shellTask, startTestStack, tempStateDir, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack | undefined;
/**
 * The handlers keep their clients and settings for the life of the process (as Lambda does after
 * a cold start), so every stack in this process listens on the same ports, with the same settings,
 * in the same state directory (the functions' metrics file is in it).
 */
let ports: {
  apiPort: number;
  dynamodbPort: number;
  sqsPort: number;
  sfnPort: number;
  eventsPort: number;
  s3Port: number;
  ec2Port: number;
};
let stateDir: string;
const SETTINGS = { pilots: 2, leaseSec: 10, heartbeatSec: 1, reapEverySec: 1, pilotIdleExitSec: 20 };

beforeAll(async () => {
  ports = {
    apiPort: await freePort(),
    dynamodbPort: await freePort(),
    sqsPort: await freePort(),
    sfnPort: await freePort(),
    eventsPort: await freePort(),
    s3Port: await freePort(),
    // The local EC2 stand-in's too: the functions keep their endpoints for the life of the process.
    ec2Port: await freePort(),
  };
  stateDir = tempStateDir('restart');
});

afterAll(async () => {
  await stack?.stop();
});

describe('a stack restart in the middle of a task', () => {
  it('goes on after the restart and completes with nothing lost or counted twice', async () => {
    const options = { ...ports, stateDir, ...SETTINGS };
    stack = await startTestStack('restart', options);
    let api = new Api(stack.apiUrl, stack.userToken);
    const taskId = await api.submit(
      shellTask('across-restart', 'sleep 1; echo ok > ok.txt', { events: 12, outputs: ['ok.txt'] }),
    );
    await waitFor(async () => (await api.task(taskId)).counts.finished >= 2, { what: 'two finished jobs' });
    await stack.stop();
    stack = undefined;

    stack = await startTestStack('restart', options);
    api = new Api(stack.apiUrl, stack.userToken);
    const before = await api.task(taskId);
    expect(before.counts.finished).toBeGreaterThanOrEqual(2);
    expect(before.state).toBe('running');
    const task = await api.finalTask(taskId, 120_000);
    expect(task.state).toBe('done');
    expect(task.counts).toMatchObject({ finished: 12, failed: 0, queued: 0, running: 0 });
    const jobs = await api.jobsWithAttempts(taskId);
    expect(jobs.map((j) => j.jobIndex)).toEqual([...Array(12).keys()]);
    expect(jobs.every((j) => j.state === 'finished' && j.outputs?.[0]?.name === 'ok.txt')).toBe(true);
    // Jobs interrupted by the stop were evicted (not counted against maxAttempts) and ran again.
    for (const job of jobs) {
      const attempts = job.attempts ?? [];
      expect(attempts.filter((a) => a.state === 'finished')).toHaveLength(1);
      expect(
        attempts.every((a) => a.state === 'finished' || a.state === 'evicted' || a.state === 'lost'),
      ).toBe(true);
    }
  });

  it('goes on with an event-service task after a restart: every range finished once, merged', async () => {
    const fixtures = fileURLToPath(new URL('../fixtures/event-service/', import.meta.url));
    await stack?.stop();
    const options = { ...ports, stateDir, ...SETTINGS };
    stack = await startTestStack('restart-es', options);
    let api = new Api(stack.apiUrl, stack.userToken);
    const taskId = await api.submit({
      name: 'es-across-restart',
      payload: {
        command: 'node',
        args: [join(fixtures, 'payload.mjs'), 'out.json'],
        env: { ES_SLEEP_MS: '40' },
      },
      events: 20_000,
      eventService: {
        rangeSize: 100,
        consumers: 2,
        mode: 'stream',
        merge: { command: 'node', args: [join(fixtures, 'merge.mjs'), 'out.json', '${inputFiles}'] },
      },
      outputs: ['out.json'],
      resources: { cores: 1, memoryMB: 256, walltimeSec: 600, diskMB: 100 },
    });
    await waitFor(async () => ((await api.task(taskId)).ranges?.finished ?? 0) >= 40, {
      timeoutMs: 90_000,
      what: '40 finished ranges',
    });
    await stack.stop();
    stack = undefined;

    stack = await startTestStack('restart-es', options);
    api = new Api(stack.apiUrl, stack.userToken);
    const before = await api.task(taskId);
    expect(before.state).toBe('running');
    expect(before.ranges?.finished).toBeLessThan(200);
    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    expect(task.ranges).toMatchObject({ total: 200, finished: 200, fatal: 0, eventsFinished: 20_000 });
    const ranges = await api.client.all('listRanges', { params: { taskId }, query: { limit: 1000 } });
    expect(ranges.map((r) => r.rangeIndex)).toEqual([...Array(200).keys()]);
    expect(ranges.every((r) => r.state === 'finished')).toBe(true);
    expect(task.outputs).toHaveLength(1);
  });
});
