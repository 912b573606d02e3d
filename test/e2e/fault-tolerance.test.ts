import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/api/index.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

/** A short lease and a fast reaper, so a vanished pilot is noticed in seconds. */
let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('faults', {
    pilots: 3,
    inMemory: true,
    leaseSec: 6,
    heartbeatSec: 1,
    reapEverySec: 1,
    pilotIdleExitSec: 20,
  });
  api = new Api(stack.apiUrl, stack.userToken);
});

afterAll(async () => {
  await stack?.stop();
});

/** Attempts of one job never overlap: each one ends before the next one starts. */
function expectSequentialAttempts(job: JobView): void {
  const attempts = job.attempts ?? [];
  const starts = attempts.map((a) => Date.parse(a.startedAt));
  const ends = attempts.map((a) => Date.parse(a.endedAt));
  for (let i = 1; i < attempts.length; i++) {
    expect(starts[i]).toBeGreaterThanOrEqual(ends[i - 1] ?? Number.POSITIVE_INFINITY);
  }
  expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
}

describe('a pilot killed with SIGKILL in the middle of a job', () => {
  it('has its job retried as a new attempt, and the task still completes', async () => {
    const taskId = await api.submit(shellTask('kill-9', 'sleep 4; echo done', { events: 4 }));
    const victim = await waitFor(
      async () => (await api.jobs(taskId)).find((j) => j.state === 'running' && j.pilotId !== undefined),
      { what: 'a running job' },
    );
    const pilot = (await api.pilots()).find((p) => p.pilotId === victim.pilotId);
    expect(pilot).toBeDefined();
    expect(stack.factory.kill(pilot?.pid ?? -1, 'SIGKILL')).toBe(true);

    // While the task runs to its end, the books never show the victim job held by two attempts.
    const seen = new Set<string>();
    const task = await waitFor(
      async () => {
        const job = (await api.jobs(taskId))[victim.jobIndex];
        if (job?.pilotId !== undefined && job.state === 'running') {
          seen.add(`${job.attempt}:${job.pilotId}`);
        }
        const t = await api.task(taskId);
        return ['done', 'partial', 'failed', 'cancelled'].includes(t.state) ? t : undefined;
      },
      { timeoutMs: 90_000, what: 'the task to end' },
    );
    expect(task.state).toBe('done');
    expect(task.counts.finished).toBe(4);
    const attemptsSeen = [...seen].map((s) => s.split(':')[0]);
    expect(new Set(attemptsSeen).size).toBe(attemptsSeen.length);

    const jobs = await api.jobsWithAttempts(taskId);
    const retried = jobs[victim.jobIndex];
    expect(retried?.state).toBe('finished');
    expect(retried?.attempt).toBe(2);
    expect(retried?.attempts?.[0]).toMatchObject({
      attempt: 1,
      state: 'lost',
      pilotId: victim.pilotId,
      pilotErrorCode: PILOT_ERROR_CODES.PILOT_LOST,
    });
    expect(retried?.attempts?.[1]?.pilotId).not.toBe(victim.pilotId);
    for (const job of jobs) expectSequentialAttempts(job);
  });

  it('marks the vanished pilot lost', async () => {
    const pilots = await waitFor(
      async () => {
        const list = await api.pilots();
        return list.some((p) => p.state === 'lost') ? list : undefined;
      },
      { timeoutMs: 60_000, what: 'a lost pilot' },
    );
    expect(pilots.filter((p) => p.state === 'lost')).toHaveLength(1);
  });
});

describe('a pilot stopped with SIGTERM (batch-system kill, spot interruption)', () => {
  it('reports the job as evicted, which is retried without using an attempt', async () => {
    const taskId = await api.submit(shellTask('evicted', 'sleep 3', { events: 1, maxAttempts: 1 }));
    const victim = await waitFor(
      async () => (await api.jobs(taskId)).find((j) => j.state === 'running' && j.pilotId !== undefined),
      { what: 'a running job' },
    );
    const pid = (await api.pilots()).find((p) => p.pilotId === victim.pilotId)?.pid ?? -1;
    expect(stack.factory.kill(pid, 'SIGTERM')).toBe(true);
    const task = await api.finalTask(taskId, 60_000);
    expect(task.state).toBe('done');
    const job = await api.job(taskId, 0);
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
      [1, 'evicted', PILOT_ERROR_CODES.EVICTED],
      [2, 'finished', PILOT_ERROR_CODES.OK],
    ]);
  });
});

describe('a job killed for exceeding its memory', () => {
  it('is retried automatically with 1.5 times the memory, and then finishes', async () => {
    // About 120 MB of touched memory plus Node itself: over 130 MB, under 200 MB.
    const taskId = await api.submit({
      name: 'memory-hungry',
      payload: {
        command: process.execPath,
        args: [
          '-e',
          'const a = Buffer.alloc(120 * 1024 * 1024, 1); setTimeout(() => console.log(a.length), 4000);',
        ],
      },
      events: 1,
      split: { eventsPerJob: 1 },
      resources: { cores: 1, memoryMB: 130, walltimeSec: 120, diskMB: 100 },
      maxAttempts: 2,
    });
    const task = await api.finalTask(taskId, 90_000);
    expect(task.state).toBe('done');
    const job = await api.job(taskId, 0);
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
      [1, 'failed', PILOT_ERROR_CODES.MEMORY_EXCEEDED],
      [2, 'finished', PILOT_ERROR_CODES.OK],
    ]);
    expect(job.resources).toEqual({ memoryMB: 200 });
    expect(job.attempts?.[1]?.usage?.maxRssKB).toBeGreaterThan(130 * 1024);
  });
});
