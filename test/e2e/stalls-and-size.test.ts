/**
 * Every API request answers within seconds, whatever the size of the task, and nothing accepted is
 * lost when a service stalls: cancelling a 20,000-job task, and DynamoDB paused (SIGSTOP of the
 * DynamoDB Local process) for a request and for 40 s in the middle of a task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRequestError } from '#client/gluon-client.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('stalls', {
    pilots: 2,
    inMemory: true,
    // The lease outlives the 40 s stall: pilots whose renewals stalled are not declared lost.
    leaseSec: 60,
    heartbeatSec: 2,
    reapEverySec: 1,
    pilotIdleExitSec: 20,
  });
  api = new Api(stack.apiUrl, stack.userToken);
});

afterAll(async () => {
  // Never leave DynamoDB Local stopped, whatever failed.
  if (stack?.dynamodbPid !== undefined) process.kill(stack.dynamodbPid, 'SIGCONT');
  await stack?.stop();
});

/** Pauses DynamoDB Local for the duration of `during`, and always resumes it. */
async function withDynamoDbPaused<T>(during: () => Promise<T>): Promise<T> {
  const pid = stack.dynamodbPid;
  if (pid === undefined) throw new Error('DynamoDB Local has no process id');
  process.kill(pid, 'SIGSTOP');
  try {
    return await during();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('cancelling a task of 20,000 jobs', () => {
  it('answers at once, and the task ends cancelled with every job counted', async () => {
    const taskId = await api.submit(shellTask('twenty-thousand', 'sleep 30', { events: 20_000 }));
    await waitFor(async () => (await api.task(taskId)).counts.running >= 1, {
      timeoutMs: 120_000,
      what: 'a running job',
    });
    const started = Date.now();
    const answer = await api.post<{ state: string; cancelRequested: boolean }>(`/tasks/${taskId}/cancel`);
    const answeredMs = Date.now() - started;
    expect(answer.status).toBe(202);
    expect(answer.body.cancelRequested).toBe(true);
    // Not a timing assertion of speed: the work is out of the request, so it cannot take long.
    expect(answeredMs).toBeLessThan(5_000);

    const task = await api.finalTask(taskId, 240_000);
    expect(task.state).toBe('cancelled');
    const c = task.counts;
    expect(c.finished + c.failed + c.cancelled).toBe(20_000);
    expect(c).toMatchObject({ queued: 0, running: 0, defined: 0 });
    // The running jobs were killed by their pilots, not left to run.
    const running = (await api.jobs(taskId)).filter((j) => j.pilotId !== undefined);
    expect(running.length).toBeGreaterThanOrEqual(1);
    for (const job of running) {
      const withAttempts = await api.job(taskId, job.jobIndex);
      expect(withAttempts.state).toBe('cancelled');
      expect(withAttempts.pilotErrorCode).toBe(1401);
    }
  });
});

describe('DynamoDB stalled', () => {
  it('answers a request made meanwhile with 503 and Retry-After within seconds', async () => {
    const taskId = await api.submit(shellTask('stall-probe', 'true'));
    await api.finalTask(taskId);
    const outcome = await withDynamoDbPaused(async () => {
      const started = Date.now();
      const response = await api.client.raw('GET', `/tasks/${taskId}`);
      return { response, ms: Date.now() - started };
    });
    expect(outcome.response.status).toBe(503);
    expect(outcome.response.headers.get('retry-after')).toBe('2');
    expect(outcome.response.body).toMatchObject({ error: { code: 'TRANSIENT' } });
    expect(outcome.ms).toBeLessThan(20_000);
    // The typed client treats it as worth another try.
    const error = new ApiRequestError('GET', 503, 'TRANSIENT', 'stalled');
    expect(error.retryable).toBe(true);
  });

  it('loses nothing when DynamoDB stalls for 40 s in the middle of a task: it completes exactly', async () => {
    const taskId = await api.submit(
      shellTask('through-a-stall', 'sleep 1; echo "${jobIndex}" > out.txt', {
        events: 16,
        outputs: ['out.txt'],
      }),
    );
    await waitFor(async () => (await api.task(taskId)).counts.finished >= 2, {
      timeoutMs: 60_000,
      what: 'two finished jobs',
    });
    await withDynamoDbPaused(() => new Promise((resolve) => setTimeout(resolve, 40_000)));
    const task = await api.finalTask(taskId, 240_000);
    expect(task.state).toBe('done');
    expect(task.counts).toMatchObject({ finished: 16, failed: 0, cancelled: 0, queued: 0, running: 0 });
    const jobs = await api.jobsWithAttempts(taskId);
    expect(jobs.map((j) => j.jobIndex)).toEqual([...Array(16).keys()]);
    for (const job of jobs) {
      expect(job.state).toBe('finished');
      expect(job.outputs?.[0]?.name).toBe('out.txt');
      // Exactly one finished attempt per job; any other attempt ended for a system reason.
      expect(job.attempts?.filter((a) => a.state === 'finished')).toHaveLength(1);
    }
  });
});
