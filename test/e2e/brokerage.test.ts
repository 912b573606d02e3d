/**
 * Brokerage that explains itself, on the local stack with three sites of different sizes and
 * states: `local` (this machine's slots, with pilots from its factory), `small-slots` (online,
 * slots of 300 MB, no pilot factory) and `down` (offline). `gluon why` names each site's reason
 * for a job no site can take, and tells where a job went and why it waits.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobExplanation, TaskExplanation } from '#core/api/tasks.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('brokerage', { pilots: 2, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
  const operator = new Api(stack.apiUrl, await stack.mintToken({ sub: 'operator', scopes: ['gluon.admin'] }));
  const small = await operator.request('PUT', '/sites/small-slots', {
    kind: 'grid',
    slot: { cores: 1, memoryMB: 300, walltimeSec: 3600, diskMB: 1000 },
    maxPilots: 2,
  });
  expect(small.status).toBe(200);
  const down = await operator.request('PUT', '/sites/down', {
    kind: 'hpc',
    status: 'offline',
    slot: { cores: 64, memoryMB: 256_000, walltimeSec: 172_800, diskMB: 1_000_000 },
    maxPilots: 500,
  });
  expect(down.status).toBe(200);
});

afterAll(async () => {
  await stack?.stop();
});

/** `gluon …` as a user types it (not spawnSync: this process serves the API the CLI calls). */
async function gluon(...args: string[]): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
  return run.stdout;
}

describe('gluon why', () => {
  it("explains a job that no site can take, naming each site's reason", async () => {
    // 1 GPU and 512 MB: local has no GPU, small-slots too little memory, down is offline.
    const taskId = await api.submit(
      shellTask('needs-a-gpu', 'true', {
        events: 2,
        resources: { memoryMB: 512, walltimeSec: 120, gpus: 1 },
      }),
    );
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('failed');

    const text = await gluon('why', taskId);
    expect(text).toContain(`Task ${taskId}: failed`);
    expect(text).toMatch(/^down\s+no\s+.*status: site is offline$/m);
    expect(text).toMatch(/^local\s+no\s+.*features: needs 1 GPU, slots have 0$/m);
    expect(text).toMatch(/^small-slots\s+no\s+.*resources: needs 512 MB memory, slots have 300$/m);

    const why = JSON.parse(await gluon('why', taskId, '--json')) as TaskExplanation;
    expect(why.brokerage?.chosen).toEqual([]);
    expect(why.brokerage?.rejected.map((r) => [r.siteId, r.filter, r.details])).toEqual([
      ['down', 'status', { status: 'offline' }],
      ['local', 'features', { resource: 'gpus', needs: 1, offers: 0 }],
      ['small-slots', 'resources', { resource: 'memoryMB', needs: 512, offers: 300 }],
    ]);

    const job = await gluon('why', taskId, '--job', '1');
    expect(job.split('\n')[0]).toBe(`Job 1 of task ${taskId}: defined, attempt 1`);
    expect(job).toMatch(
      /^ {2}- No site can take job 1 \(brokerage at \S+\): down: site is offline; local: needs 1 GPU, slots have 0; small-slots: needs 512 MB memory, slots have 300\.$/m,
    );
  });

  it('tells with --job where a job went and why, and why a queued job waits: no pilot at its site', async () => {
    // Fits local and small-slots (down is offline): both are chosen, with their weights.
    const taskId = await api.submit(
      shellTask('spread', 'true', { events: 6, resources: { memoryMB: 256, walltimeSec: 120 } }),
    );
    // Dispatch releases the jobs to both sites' queues; those at local run through its pilots, those
    // at small-slots wait (no pilot factory there). A job's site is known once a pilot claims it.
    const jobs = await waitFor(
      async () => {
        const all = await api.jobs(taskId);
        const local = all.filter((j) => j.siteId === 'local');
        const queued = all.filter((j) => j.state === 'queued');
        return local.length > 0 && local.every((j) => j.state === 'finished') && queued.length > 0
          ? all
          : undefined;
      },
      { what: 'the jobs at local to finish', timeoutMs: 120_000 },
    );
    const waiting = jobs.filter((j) => j.state === 'queued');
    expect(waiting.every((j) => j.siteId === undefined)).toBe(true);

    const queued = waiting[0]?.jobIndex as number;
    const why = JSON.parse(await gluon('why', taskId, '--job', String(queued), '--json')) as JobExplanation;
    expect(why).toMatchObject({ state: 'queued', attempt: 1 });
    expect(why.findings[1]).toMatchObject({
      code: 'sent-to',
      message: `Job ${queued} was released to the queue of one of the task's sites (local, small-slots), the first with room; which one is known when a pilot claims it.`,
    });
    // What holds each queue it may be in: no pilot at small-slots.
    expect(why.findings.find((f) => f.siteId === 'small-slots')?.message).toMatch(
      /^No pilot is running at small-slots: \d+ job messages wait for its pilot factory to start pilots \(up to 2\)\.$/,
    );

    const done = jobs.find((j) => j.siteId === 'local')?.jobIndex as number;
    const text = await gluon('why', taskId, '--job', String(done));
    expect(text.split('\n')[0]).toBe(`Job ${done} of task ${taskId}: finished, attempt 1 at local`);
    expect(text).toMatch(
      new RegExp(
        `^  - Job ${done} was sent to site local: brokerage chose local with weight \\d+(\\.\\d)?%`,
        'm',
      ),
    );
    expect(text).toMatch(/^ {2}- Attempt 1 ran at local on pilot p-\S+ \(.+\): finished\.$/m);

    // The task's explanation shows both chosen sites with their weights, and the offline one.
    const task = JSON.parse(await gluon('why', taskId, '--json')) as TaskExplanation;
    const weights = task.sites.filter((s) => s.chosen).map((s) => [s.siteId, s.weight]);
    expect(weights.map(([siteId]) => siteId)).toEqual(['local', 'small-slots']);
    expect(weights.reduce((a, [, w]) => a + (w as number), 0)).toBeCloseTo(1, 3);
    expect(task.sites.find((s) => s.siteId === 'down')).toMatchObject({ chosen: false, filter: 'status' });
    expect(task.findings).toContainEqual(expect.stringMatching(/^No pilot is running at small-slots: /));

    expect((await api.post(`/tasks/${taskId}/cancel`)).status).toBe(202);
    expect((await api.finalTask(taskId)).state).toBe('cancelled');
  });
});
