import { afterAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '#local/stack.ts';
import { freePort } from '#local/stand-ins.ts';
import { Api, shellTask, startTestStack, tempStateDir, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack | undefined;

afterAll(async () => {
  await stack?.stop();
});

describe('a stack restart in the middle of a task', () => {
  it('goes on after the restart and completes with nothing lost or counted twice', async () => {
    const stateDir = tempStateDir('restart');
    // The handlers keep their clients for the life of the process (as Lambda does after a cold
    // start), so the second stack in this process listens on the same ports as the first.
    const ports = {
      apiPort: await freePort(),
      dynamodbPort: await freePort(),
      sqsPort: await freePort(),
      sfnPort: await freePort(),
    };
    const options = {
      ...ports,
      stateDir,
      pilots: 2,
      leaseSec: 10,
      heartbeatSec: 1,
      reapEverySec: 1,
      pilotIdleExitSec: 20,
    };
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
});
