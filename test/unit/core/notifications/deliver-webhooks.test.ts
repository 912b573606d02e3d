import { beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import {
  attemptDelivery,
  deliverTaskEvent,
  retryDueDeliveries,
} from '#core/notifications/deliver-webhooks.ts';
import { addWebhook, listWebhooks, removeWebhook } from '#core/notifications/manage-webhooks.ts';
import { type TaskStateChange, taskEventId } from '#core/notifications/task-event.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';

const alice = { sub: 'alice', scopes: ['compute.create', 'compute.read'] };
const bob = { sub: 'bob', scopes: ['compute.create', 'compute.read'] };

function taskEnd(to: TaskStateChange['to'], overrides: Partial<TaskStateChange> = {}): TaskStateChange {
  return {
    taskId: 't-000001',
    owner: 'alice',
    name: 'zmumu',
    from: 'running',
    to,
    counts: { defined: 0, queued: 0, running: 0, finished: 4, failed: 0, cancelled: 0 },
    at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

let deps: InMemoryDeps;
beforeEach(() => {
  deps = inMemoryDeps();
  deps.notifications = { ...deps.notifications, baseSec: 10, maxDelaySec: 40, maxAttempts: 3 };
});

describe('addWebhook', () => {
  it('refuses a non-https URL on a deployment that does not allow plain http, naming url', async () => {
    const error = await addWebhook(deps, alice, { url: 'http://127.0.0.1:9000/hook' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['url']);
    expect(await deps.webhooks.list('alice')).toEqual([]);
  });

  it('takes http to loopback where the deployment allows it, with every end by default', async () => {
    deps.notifications.allowHttpLoopback = true;
    const webhook = await addWebhook(deps, alice, { url: 'http://127.0.0.1:9000/hook' });
    expect(webhook.events).toEqual(['done', 'failed', 'partial', 'cancelled']);
    expect(webhook.secret).toBe('secret-1'.padEnd(64, '.'));
    const [listed] = await listWebhooks(deps, alice);
    expect(listed).not.toHaveProperty('secret');
    expect(listed?.webhookId).toBe(webhook.webhookId);
  });

  it('lets only the owner see and remove a webhook', async () => {
    const webhook = await addWebhook(deps, alice, { url: 'https://hooks.example.org/a' });
    expect(await listWebhooks(deps, bob)).toEqual([]);
    await expect(removeWebhook(deps, bob, webhook.webhookId)).rejects.toThrow(/not found/);
    await expect(removeWebhook(deps, alice, webhook.webhookId)).resolves.toEqual({
      webhookId: webhook.webhookId,
      removed: true,
    });
    expect(await listWebhooks(deps, alice)).toEqual([]);
  });
});

describe('deliverTaskEvent', () => {
  it('sends one signed POST per matching webhook of the owner, and nothing again for a replay', async () => {
    const all = await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    await addWebhook(deps, alice, { url: 'https://hooks.example.org/failures', events: ['failed'] });
    await addWebhook(deps, bob, { url: 'https://hooks.example.org/bob' });

    const first = await deliverTaskEvent(deps, taskEnd('done'));
    const replay = await deliverTaskEvent(deps, taskEnd('done'));

    expect(first).toEqual({ deliveries: 1, outcomes: ['delivered'] });
    expect(replay).toEqual({ deliveries: 0, outcomes: [] });
    expect(deps.webhookSender.sent.map((s) => s.url)).toEqual(['https://hooks.example.org/all']);
    const sent = deps.webhookSender.sent[0];
    expect(sent?.secret).toBe(all.secret);
    expect(sent?.headers['x-gluon-event-id']).toBe(taskEventId(taskEnd('done')));
    expect(JSON.parse(sent?.body ?? '{}')).toMatchObject({ detail: { taskId: 't-000001', to: 'done' } });
  });

  it('ignores changes that are not task ends', async () => {
    await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    expect(await deliverTaskEvent(deps, taskEnd('running', { from: 'splitting' }))).toEqual({
      deliveries: 0,
      outcomes: [],
    });
    expect(deps.webhookSender.sent).toEqual([]);
  });

  it('delivers a task that ends again after a resubmit as a second event', async () => {
    await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    await deliverTaskEvent(deps, taskEnd('failed'));
    await deliverTaskEvent(deps, taskEnd('failed', { at: '2026-01-01T01:00:00.000Z' }));
    expect(deps.webhookSender.sent).toHaveLength(2);
  });
});

describe('retries', () => {
  it('retries a failed delivery with back-off until it is delivered', async () => {
    const webhook = await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    deps.webhookSender.answers = [{ error: 'ECONNREFUSED' }, { status: 503 }, { status: 204 }];
    expect((await deliverTaskEvent(deps, taskEnd('done'))).outcomes).toEqual(['retry']);

    // Not due before the first back-off (10 s) is over.
    deps.clock.advance(9_000);
    expect(await retryDueDeliveries(deps)).toMatchObject({ delivered: 0, retry: 0 });
    deps.clock.advance(1_000);
    expect(await retryDueDeliveries(deps)).toMatchObject({ retry: 1 });
    const [pending] = await deps.webhooks.recentDeliveries('alice', webhook.webhookId, 5);
    expect(pending).toMatchObject({ status: 'pending', attempts: 2, lastStatus: 503, lastError: 'HTTP 503' });
    // The second back-off is twice the first.
    expect(Date.parse(pending?.nextAttemptAt ?? '') - deps.clock.now().getTime()).toBe(20_000);

    deps.clock.advance(20_000);
    expect(await retryDueDeliveries(deps)).toMatchObject({ delivered: 1 });
    const [delivered] = await deps.webhooks.recentDeliveries('alice', webhook.webhookId, 5);
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 3, lastStatus: 204 });
    expect(delivered?.nextAttemptAt).toBeUndefined();
    expect(deps.webhookSender.sent).toHaveLength(3);
    expect(new Set(deps.webhookSender.sent.map((s) => s.body)).size).toBe(1);
  });

  it('marks a delivery failed when its attempts are spent, with the last error', async () => {
    const webhook = await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    deps.webhookSender.answers = [{ status: 500 }];
    await deliverTaskEvent(deps, taskEnd('done'));
    for (let i = 0; i < 5; i++) {
      deps.clock.advance(60_000);
      await retryDueDeliveries(deps);
    }
    const [failed] = await deps.webhooks.recentDeliveries('alice', webhook.webhookId, 5);
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, lastStatus: 500 });
    expect(deps.webhookSender.sent).toHaveLength(3);
  });

  it('fails the pending deliveries of a removed webhook without sending', async () => {
    const webhook = await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    deps.webhookSender.answers = [{ status: 500 }];
    await deliverTaskEvent(deps, taskEnd('done'));
    await removeWebhook(deps, alice, webhook.webhookId);
    deps.clock.advance(60_000);
    expect(await retryDueDeliveries(deps)).toMatchObject({ failed: 1 });
    expect(deps.webhookSender.sent).toHaveLength(1);
  });

  it('lets only one caller take an attempt', async () => {
    await addWebhook(deps, alice, { url: 'https://hooks.example.org/all' });
    deps.webhookSender.answers = [{ status: 500 }, { status: 200 }];
    await deliverTaskEvent(deps, taskEnd('done'));
    deps.clock.advance(60_000);
    const [due] = await deps.webhooks.dueDeliveries(deps.clock.now().toISOString(), 10);
    if (due === undefined) throw new Error('no due delivery');
    const outcomes = await Promise.all([attemptDelivery(deps, due), attemptDelivery(deps, due)]);
    expect(outcomes.sort()).toEqual(['delivered', 'taken']);
    expect(deps.webhookSender.sent).toHaveLength(2);
  });
});
