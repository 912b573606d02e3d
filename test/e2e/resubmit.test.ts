// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${jobIndex} placeholders are literal text in task specs
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, ResubmitTaskResponse } from '#core/api/index.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('resubmit', { pilots: 2, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
});

afterAll(async () => {
  await stack?.stop();
});

const gluon = async (...args: string[]) =>
  (
    await promisify(execFile)(process.execPath, ['cli/main.ts', ...args, '--json'], {
      env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
      encoding: 'utf8',
    })
  ).stdout;

function issuesOf(body: unknown): string[] {
  return ((body as ErrorBody).error.issues ?? []).map((i) => i.field);
}

/** Job 1 touches about 120 MB (over its 130 MB with Node itself); the others print and end. */
const HUNGRY_JOB_1 =
  'if (process.argv[1] === "1") { const a = Buffer.alloc(120 * 1024 * 1024, 1); setTimeout(() => console.log(a.length), 4000); } else console.log("ok");';

describe('gluon resubmit', () => {
  it('brings a partial task to done: its failed job runs again with more memory', async () => {
    const taskId = await api.submit({
      name: 'resubmit-oom',
      payload: { command: process.execPath, args: ['-e', HUNGRY_JOB_1, '${jobIndex}'] },
      events: 3,
      split: { eventsPerJob: 1 },
      resources: { cores: 1, memoryMB: 130, walltimeSec: 120, diskMB: 100 },
      maxAttempts: 1,
      retry: { memoryFactor: 1, walltimeFactor: 1 },
    });
    const partial = await api.finalTask(taskId, 120_000);
    expect(partial.state).toBe('partial');
    expect(partial.counts).toMatchObject({ finished: 2, failed: 1 });
    expect((await api.job(taskId, 1)).pilotErrorCode).toBe(PILOT_ERROR_CODES.MEMORY_EXCEEDED);

    // Another user cannot resubmit it (the task is missing to them), and nothing changes.
    const mallory = new Api(
      stack.apiUrl,
      await stack.mintToken({ sub: 'mallory', scopes: ['compute.read', 'compute.modify'] }),
    );
    const refused = await mallory.post(`/tasks/${taskId}/resubmit`, { state: 'failed', memoryMB: 400 });
    expect(refused.status).toBe(404);
    // Bad input names its field and changes nothing either.
    const tooBig = await api.post<ErrorBody>(`/tasks/${taskId}/resubmit`, { memoryMB: 2_000_000 });
    expect(tooBig.status).toBe(400);
    expect(issuesOf(tooBig.body)).toEqual(['memoryMB']);
    const unknownSite = await api.post<ErrorBody>(`/tasks/${taskId}/resubmit`, { sites: ['nowhere'] });
    expect(unknownSite.status).toBe(400);
    expect(issuesOf(unknownSite.body)).toEqual(['sites']);
    const unchanged = await api.task(taskId);
    expect(unchanged).toMatchObject({ state: 'partial', counts: partial.counts });
    expect(unchanged.history).toEqual(partial.history);
    expect(await api.job(taskId, 1)).toMatchObject({ state: 'failed', attempt: 1 });

    const answer = JSON.parse(
      await gluon('resubmit', taskId, '--state', 'failed', '--memory-mb', '400'),
    ) as ResubmitTaskResponse;
    expect(answer).toMatchObject({ taskId, jobs: 1, reopened: true, state: 'running' });

    const done = await api.finalTask(taskId, 120_000);
    expect(done.state).toBe('done');
    expect(done.counts).toMatchObject({ finished: 3, failed: 0, queued: 0, running: 0 });
    expect(done.jobsResubmitted).toBe(1);
    expect(done.history.map((h) => h.state)).toEqual([
      'submitted',
      'splitting',
      'running',
      'partial',
      'running',
      'done',
    ]);
    expect(done.history[4]?.reason).toBe('resubmitted 1 job by its owner');
    const job = await api.job(taskId, 1);
    expect(job).toMatchObject({ state: 'finished', attempt: 2, resources: { memoryMB: 400 } });
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
      [1, 'failed', PILOT_ERROR_CODES.MEMORY_EXCEEDED],
      [2, 'finished', PILOT_ERROR_CODES.OK],
    ]);
    // The jobs that had finished ran once.
    expect((await api.job(taskId, 0)).attempt).toBe(1);

    // The same resubmit again: nothing is failed any more, nothing changes.
    const again = JSON.parse(
      await gluon('resubmit', taskId, '--state', 'failed', '--memory-mb', '400'),
    ) as ResubmitTaskResponse;
    expect(again).toMatchObject({ jobs: 0, reopened: false, state: 'done' });
    expect((await api.task(taskId)).history).toEqual(done.history);
  });

  it("refuses a running task's finished jobs with a 400 naming jobs, and the task runs on", async () => {
    const taskId = await api.submit(
      shellTask('resubmit-running', 'if [ "${jobIndex}" = 1 ]; then sleep 60; fi; true', { events: 2 }),
    );
    await waitFor(
      async () => {
        const jobs = await api.jobs(taskId);
        return jobs[0]?.state === 'finished' && jobs[1]?.state === 'running';
      },
      { timeoutMs: 60_000, what: 'job 0 finished and job 1 running' },
    );
    const refused = await api.post<ErrorBody>(`/tasks/${taskId}/resubmit`, { jobs: '0' });
    expect(refused.status).toBe(400);
    expect(issuesOf(refused.body)).toEqual(['jobs']);
    expect(refused.body.error.issues?.[0]?.message).toContain('job 0 finished and the task still runs');
    expect(await api.job(taskId, 0)).toMatchObject({ state: 'finished', attempt: 1 });
    expect((await api.post(`/tasks/${taskId}/cancel`)).status).toBe(202);
    expect((await api.finalTask(taskId, 60_000)).state).toBe('cancelled');
  });
});
