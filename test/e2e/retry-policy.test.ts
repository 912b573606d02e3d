import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetryPolicyView, TestRetryPolicyResponse } from '#core/api/retry-policy.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack } from '#test/support/e2e.ts';
import type { TaskInputSpec } from '#test/support/e2e-types.ts';

/**
 * Retry policy as data on the local stack: the default rules retry a memory kill with more memory;
 * rules changed with `gluon retry-policy set` decide the next failure, with the stack running on.
 * The functions read the rules at every failure here (cache age 0), so the test does not wait out
 * a cache; the cache itself is unit-tested.
 */
let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('retry-policy', {
    pilots: 2,
    inMemory: true,
    pilotIdleExitSec: 20,
    retryPolicyCacheSec: 0,
  });
  api = new Api(stack.apiUrl, stack.userToken);
});

afterAll(async () => {
  await stack?.stop();
});

/** The CLI as a user runs it (a child process: this process serves the API it calls); its stdout. */
async function gluon(...args: string[]): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
  return run.stdout;
}

function rulesFile(name: string, text: string): string {
  const path = join(stack.stateDir, name);
  writeFileSync(path, text);
  return path;
}

/** Touches about 120 MB (plus Node itself): killed under 130 MB, fine with 200 MB. */
function memoryHungry(name: string): TaskInputSpec {
  return {
    name,
    payload: {
      command: process.execPath,
      args: [
        '-e',
        'const a = Buffer.alloc(120 * 1024 * 1024, 1); setTimeout(() => console.log(a.length), 3000);',
      ],
    },
    events: 1,
    split: { eventsPerJob: 1 },
    resources: { cores: 1, memoryMB: 130, walltimeSec: 120, diskMB: 100 },
    maxAttempts: 3,
  };
}

describe('retry rules as data', () => {
  let failedTaskId: string;

  it('retries a memory kill with 1.5 times the memory under the default rules, and the job finishes', async () => {
    expect(JSON.parse(await gluon('retry-policy', 'show', '--json'))).toMatchObject({
      version: 0,
      current: true,
    });
    const taskId = await api.submit(memoryHungry('oom-default'));
    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    const job = await api.job(taskId, 0);
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
      [1, 'failed', PILOT_ERROR_CODES.MEMORY_EXCEEDED],
      [2, 'finished', PILOT_ERROR_CODES.OK],
    ]);
    expect(job.resources).toEqual({ memoryMB: 200 });
  });

  it('follows rules set through the CLI at the next failure, without a restart: no retry of a memory kill', async () => {
    const file = rulesFile(
      'strict.yaml',
      [
        'description: memory kills are the user’s to fix; exit 3 waits before its retry',
        'rules:',
        '  - name: oom',
        '    match: { pilotErrorCodes: [1102] }',
        '    action: { type: no-retry }',
        '  - name: slow-down',
        '    match: { exitCodes: [3] }',
        '    action: { type: retry, backoffSec: 5 }',
        '',
      ].join('\n'),
    );
    expect(await gluon('retry-policy', 'set', file)).toContain('retry rules version 1 is current');

    failedTaskId = await api.submit(memoryHungry('oom-no-retry'));
    const task = await api.finalTask(failedTaskId, 180_000);
    expect(task.state).toBe('failed');
    const job = await api.job(failedTaskId, 0);
    expect(job).toMatchObject({
      state: 'failed',
      attempt: 1,
      pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED,
    });
    expect(job.attempts).toHaveLength(1);
  });

  it("sends a retry after its rule's back-off: the next attempt starts no sooner", async () => {
    const taskId = await api.submit(
      shellTask('backoff', 'if [ "$GLUON_ATTEMPT" = 1 ]; then exit 3; fi; echo ok', { maxAttempts: 2 }),
    );
    expect((await api.finalTask(taskId, 180_000)).state).toBe('done');
    const [first, second] = (await api.job(taskId, 0)).attempts ?? [];
    expect(first).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(second).toMatchObject({ state: 'finished' });
    const waitedMs = Date.parse(second?.startedAt ?? '') - Date.parse(first?.endedAt ?? '');
    expect(waitedMs).toBeGreaterThanOrEqual(5000);
  });

  it('replays the failed task against the default rules: its job is rescued, asking 200 MB', async () => {
    const defaults = JSON.parse(
      await gluon('retry-policy', 'show', '--version', '0', '--json'),
    ) as RetryPolicyView;
    const file = rulesFile('defaults.json', JSON.stringify(defaults.ruleSet));
    const replay = JSON.parse(
      await gluon('retry-policy', 'test', file, '--tasks', failedTaskId, '--json'),
    ) as TestRetryPolicyResponse;
    expect(replay).toMatchObject({
      currentVersion: 1,
      tasks: [failedTaskId],
      jobs: 1,
      jobsRescued: 1,
      jobsStopRetrying: 0,
      extraMemoryMB: 200,
      changes: [{ jobIndex: 0, outcome: 'rescued', pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED }],
    });
    const text = await gluon('retry-policy', 'test', file, '--tasks', failedTaskId);
    expect(text).toContain('jobs rescued:             1');
    expect(text).toContain('extra memory asked for:   +200 MB');
  });

  it('refuses a rule that multiplies memory by 0, naming the field, and changes nothing', async () => {
    const bad = await api.request<{ error: { issues: Array<{ field: string }> } }>('PUT', '/retry-policy', {
      rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'retry-memory', factor: 0 } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i) => i.field)).toEqual(['rules.0.action.factor']);
    expect((await api.client.call('getRetryPolicy', { query: {} })).version).toBe(1);
  });
});
