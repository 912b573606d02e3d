/**
 * Site availability on the local stack (HammerCloud's auto-exclusion): a site whose pilots fail
 * their stage-in is moved to `test` by site health, its test jobs keep failing while the fault is
 * there, and bring it back `online` once the fault is removed; its history says so.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/common.ts';
import type { SiteDetail } from '#core/api/sites.ts';
import { LOCAL_BUCKET, type LocalStack } from '#local/stack.ts';
import { adler32 } from '#pilot/adler32.ts';
import { Api, s3For, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

type StatusChange = SiteDetail['history'][number];

const PROBE_KEY = 'inputs/site-health/probe.dat';
const GOOD = 'the good probe\n';
const PROBE = { name: PROBE_KEY, adler32: adler32(GOOD), bytes: GOOD.length };

let stack: LocalStack;
let api: Api;
let s3: S3Client;

beforeAll(async () => {
  stack = await startTestStack('site-health', {
    pilots: 2,
    inMemory: true,
    siteHealthEverySec: 1,
    pilotIdleExitSec: 10,
    // Node checks that pass on a loaded test machine: only the stage-in fails here.
    pilotArgs: ['--max-load-per-core', '1000'],
  });
  api = new Api(stack.apiUrl, stack.userToken);
  s3 = s3For(stack);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

async function putProbe(content: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: PROBE_KEY, Body: content }));
}

async function site(): Promise<SiteDetail> {
  return api.client.call('getSite', { params: { siteId: 'local' } });
}

/** The gluon CLI, as an operator runs it against this stack. */
async function gluon(...args: string[]): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken, NO_COLOR: '1' },
    encoding: 'utf8',
  });
  return run.stdout;
}

describe('a site whose pilots fail their stage-in', () => {
  it('refuses a site test task from a user, naming siteTest', async () => {
    const reply = await api.request<ErrorBody>(
      'POST',
      '/tasks',
      shellTask('sneaky', 'true', { siteTest: true }),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.issues?.map((i) => i.field)).toEqual(['siteTest']);
  });

  it('goes to test, stays there while its test jobs fail, and comes back online once the fault is fixed', async () => {
    // The site's storage serves a corrupt copy of an input: every stage-in of it fails its checksum.
    await putProbe('a corrupt probe\n');
    const { siteId: _siteId, ...definition } = await site();
    const put = await api.request('PUT', '/sites/local', {
      kind: definition.kind,
      // Pilots advertise the slot and check the node has it: a small one passes on a busy machine.
      slot: { ...definition.slot, cores: 1, memoryMB: 2000 },
      maxPilots: definition.maxPilots,
      tags: definition.tags,
      health: { auto: true, minAttempts: 4 },
      test: {
        jobs: 2,
        payload: { command: 'sh', args: ['-c', 'grep -q good probe.dat'] },
        inputs: [PROBE],
        backoffSec: 2,
      },
    });
    expect(put.status).toBe(200);

    const userTask = await api.submit(
      shellTask('needs-probe', 'cat probe.dat', {
        events: undefined,
        inputs: { files: [PROBE, PROBE, PROBE, PROBE] },
        split: { filesPerJob: 1 },
        maxAttempts: 1,
      }),
    );
    const failed = await api.finalTask(userTask);
    expect(failed.state).toBe('failed');
    expect((await api.jobsWithAttempts(userTask)).map((j) => j.pilotErrorCode)).toEqual([
      1201, 1201, 1201, 1201,
    ]);

    const excluded = await waitFor(async () => ((await site()).status === 'test' ? site() : undefined), {
      timeoutMs: 60_000,
      what: 'site health to move the site to test',
    });
    expect(excluded.statusChange).toMatchObject({ from: 'online', to: 'test', by: 'site-health' });
    // Every recent attempt failed its stage-in: the four jobs' first attempts at least, and as many
    // of their free retries (stage-in spends no attempt) as ended before site health looked.
    const [, failedCount = '0'] =
      /^(\d+) of \1 recent attempts failed for infrastructure reasons \(stage-in \1\)/.exec(
        excluded.statusChange?.reason ?? '',
      ) ?? [];
    expect(Number(failedCount)).toBeGreaterThanOrEqual(4);
    expect(excluded.testTask?.taskId).toMatch(/^t-/);

    // Its test jobs stage in the same corrupt input: the test fails, the site stays in test.
    const failedTest = await waitFor(
      async () => {
        const now = await site();
        return (now.testTask?.failures ?? 0) >= 1 ? now : undefined;
      },
      { timeoutMs: 120_000, what: 'a failed test task' },
    );
    expect(failedTest.status).toBe('test');

    // The fault is removed: the next test task passes and the site is online again.
    await putProbe(GOOD);
    const restored = await waitFor(async () => ((await site()).status === 'online' ? site() : undefined), {
      timeoutMs: 120_000,
      what: 'the test jobs to bring the site back online',
    });
    expect(restored.statusChange).toMatchObject({ from: 'test', to: 'online', by: 'site-health' });
    expect(restored.statusChange?.reason).toMatch(/^test task t-\S+ done: 2 of 2 test jobs finished$/);
    expect(restored.testTask).toBeUndefined();

    // The operator sees both changes, with their reasons, through the CLI.
    const history = JSON.parse(await gluon('site', 'local', '--history', '--json')) as StatusChange[];
    expect(history.map((c) => [c.from, c.to, c.by])).toEqual([
      [undefined, 'online', 'operator'],
      ['online', 'test', 'site-health'],
      ['test', 'online', 'site-health'],
    ]);
    const table = await gluon('site', 'local', '--history');
    expect(table).toMatch(
      new RegExp(
        `online\\s+test\\s+site-health\\s+${failedCount} of ${failedCount} recent attempts failed for infrastructure reasons`,
      ),
    );
    expect(table).toMatch(/test\s+online\s+site-health\s+test task t-\S+ done: 2 of 2 test jobs finished/);
    expect(await gluon('sites')).toMatch(/^local\s.*\sonline\s.*site-health: test task t-\S+ done/m);
  });
});
