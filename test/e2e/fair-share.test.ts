/**
 * Fair share on the local stack: two users submit at once, with shares set through the CLI; the
 * dispatch rounds release their jobs to the site queues in fair-share order, a few at a time.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type { ErrorBody, SharesView } from '#core/api/index.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack } from '#test/support/e2e.ts';

let stack: LocalStack;
let operator: Api;
let alice: Api;
let bob: Api;
const USER = [SCOPES.create, SCOPES.read, SCOPES.cancel, SCOPES.modify];

beforeAll(async () => {
  stack = await startTestStack('fair-share', { pilots: 3, inMemory: true, pilotIdleExitSec: 20 });
  operator = new Api(stack.apiUrl, stack.userToken);
  alice = new Api(stack.apiUrl, await stack.mintToken({ sub: 'alice', scopes: USER }));
  bob = new Api(stack.apiUrl, await stack.mintToken({ sub: 'bob', scopes: USER }));
  // Three sites of different sizes and states: the local site (its pilots), a big one offline, a small one in test.
  await operator.client.call('putSite', {
    params: { siteId: 'local' },
    body: { maxPilots: 3, maxQueued: 4 },
  });
  await operator.client.call('putSite', {
    params: { siteId: 'big' },
    body: { status: 'offline', maxPilots: 500 },
  });
  await operator.client.call('putSite', {
    params: { siteId: 'small' },
    body: { status: 'test', maxPilots: 2 },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const gluon = async (token: string, ...args: string[]) =>
  (
    await promisify(execFile)(process.execPath, ['cli/main.ts', ...args, '--json'], {
      env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: token },
      encoding: 'utf8',
    })
  ).stdout;

describe('two users submitting at once', () => {
  it("start the light user's jobs at once, and share the starts as the shares say", async () => {
    const file = join(stack.stateDir, 'shares.yaml');
    writeFileSync(
      file,
      [
        'halfLifeSec: 3600',
        'defaultGroup: atlas',
        'groups:',
        '  - { name: atlas, share: 75 }',
        '  - { name: cms, share: 25 }',
        'users:',
        '  - { user: alice, group: atlas }',
        '  - { user: bob, group: cms }',
      ].join('\n'),
    );
    const set = JSON.parse(await gluon(stack.userToken, 'shares', 'set', file)) as SharesView;
    expect(set.version).toBe(1);

    const script = 'echo started';
    const [heavy, light] = await Promise.all([
      alice.submit(shellTask('heavy', script, { events: 200 })),
      bob.submit(shellTask('light', script, { events: 20 })),
    ]);
    await Promise.all([alice.finalTask(heavy, 240_000), bob.finalTask(light, 240_000)]);
    expect((await alice.task(heavy)).state).toBe('done');
    expect((await bob.task(light)).state).toBe('done');

    // Every start, in order.
    const starts = [
      ...(await alice.jobs(heavy)).map((j) => ({ owner: 'alice', at: j.startedAt ?? '' })),
      ...(await bob.jobs(light)).map((j) => ({ owner: 'bob', at: j.startedAt ?? '' })),
    ].sort((a, b) => a.at.localeCompare(b.at));
    expect(starts).toHaveLength(220);
    const owners = starts.map((s) => s.owner);
    // Bob's first job starts among the first few, not after alice's 200 drain.
    expect(owners.indexOf('bob')).toBeLessThan(10);
    // While both have work, bob gets about his 25 %: his 20 jobs are done by about the 80th start.
    const lastBob = owners.lastIndexOf('bob');
    expect(lastBob).toBeGreaterThan(50);
    expect(lastBob).toBeLessThan(110);
    const first60 = owners.slice(0, 60).filter((o) => o === 'bob').length / 60;
    expect(first60).toBeGreaterThan(0.15);
    expect(first60).toBeLessThan(0.35);

    // Usage follows the starts; the tasks left dispatch when they ended.
    const shares = JSON.parse(await gluon(stack.userToken, 'shares')) as SharesView;
    expect(shares.usage.find((u) => u.kind === 'user' && u.name === 'alice')?.usage).toBeGreaterThan(150);
    expect(shares.usage.find((u) => u.kind === 'user' && u.name === 'bob')?.usage).toBeGreaterThan(15);
    expect(shares.dispatch).toEqual([]);
  });

  it('refuses shares that do not add up or have a cycle, naming the field, and keeps the ones in force', async () => {
    const before = await operator.client.call('getShares', {});
    const bad = await operator.request<ErrorBody>('PUT', '/shares', {
      groups: [
        { name: 'a', share: 60 },
        { name: 'b', share: 30 },
      ],
      defaultGroup: 'a',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues?.map((i) => i.field)).toEqual(['body.groups.0.share']);
    const cycle = await operator.request<ErrorBody>('PUT', '/shares', {
      groups: [
        { name: 'top', share: 100 },
        { name: 'x', parent: 'y', share: 100 },
        { name: 'y', parent: 'x', share: 100 },
      ],
      defaultGroup: 'top',
    });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.issues?.map((i) => i.field)).toContain('body.groups.1.parent');
    const byUser = await alice.request<ErrorBody>('PUT', '/shares', {
      groups: [{ name: 'default', share: 100 }],
    });
    expect(byUser.status).toBe(403);
    expect((await operator.client.call('getShares', {})).version).toBe(before.version);
  });
});
