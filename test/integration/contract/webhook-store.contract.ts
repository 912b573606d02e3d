/**
 * The WebhookStore contract (core/notifications/ports.ts), run against the in-memory fake and the
 * DynamoDB adapter.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebhookStore } from '#core/notifications/ports.ts';
import type { Delivery, Webhook } from '#core/notifications/webhook.ts';

let n = 0;
function webhook(owner: string): Webhook {
  n += 1;
  return {
    webhookId: `w-${String(n).padStart(8, '0')}`,
    owner,
    url: 'https://hooks.example.org/x',
    events: ['done', 'failed'],
    secret: 's'.repeat(64),
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function delivery(w: Webhook, at: string, nextAttemptAt = at): Delivery {
  return {
    owner: w.owner,
    webhookId: w.webhookId,
    eventId: `${at}/t-000001/done`,
    taskId: 't-000001',
    state: 'done',
    body: '{"id":"x"}',
    status: 'pending',
    attempts: 0,
    nextAttemptAt,
    createdAt: at,
    updatedAt: at,
  };
}

export function describeWebhookStoreContract(name: string, makeStore: () => Promise<WebhookStore>): void {
  describe(`${name} (WebhookStore contract)`, () => {
    let store: WebhookStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    it("keeps each owner's webhooks apart and removes one once", async () => {
      const a = webhook('contract-alice');
      const b = webhook('contract-bob');
      await store.create(a);
      await store.create(b);
      expect(await store.list('contract-alice')).toEqual([a]);
      expect(await store.get('contract-alice', a.webhookId)).toEqual(a);
      expect(await store.get('contract-bob', a.webhookId)).toBeUndefined();
      expect(await store.remove('contract-bob', a.webhookId)).toBe(false);
      expect(await store.remove('contract-alice', a.webhookId)).toBe(true);
      expect(await store.remove('contract-alice', a.webhookId)).toBe(false);
      expect(await store.list('contract-alice')).toEqual([]);
    });

    it('creates a delivery once per key', async () => {
      const w = webhook('contract-carol');
      const d = delivery(w, '2026-01-01T00:00:00.000Z');
      expect(await store.createDelivery(d)).toBe(true);
      expect(await store.createDelivery({ ...d, body: 'other' })).toBe(false);
      expect(await store.getDelivery(w.owner, w.webhookId, d.eventId)).toEqual(d);
    });

    it('fences attempts: one taker per attempt, outcomes only for the attempt taken', async () => {
      const w = webhook('contract-dave');
      const d = delivery(w, '2026-01-01T00:00:00.000Z');
      await store.createDelivery(d);
      const now = '2026-01-01T00:00:01.000Z';
      const lostAt = '2026-01-01T00:01:00.000Z';
      expect(await store.startAttempt(d, '2025-12-31T23:59:59.000Z', lostAt)).toBe(false); // not due yet
      expect(await store.startAttempt(d, now, lostAt)).toBe(true);
      expect(await store.startAttempt(d, now, lostAt)).toBe(false);
      const key = { owner: w.owner, webhookId: w.webhookId, eventId: d.eventId };
      expect(await store.endAttempt({ ...key, attempts: 2 }, { status: 'delivered', at: now })).toBe(false);
      expect(
        await store.endAttempt(
          { ...key, attempts: 1 },
          {
            status: 'pending',
            nextAttemptAt: '2026-01-01T00:00:11.000Z',
            lastError: 'ECONNREFUSED',
            at: now,
          },
        ),
      ).toBe(true);
      expect(await store.getDelivery(w.owner, w.webhookId, d.eventId)).toMatchObject({
        status: 'pending',
        attempts: 1,
        nextAttemptAt: '2026-01-01T00:00:11.000Z',
        lastError: 'ECONNREFUSED',
      });
      const retried = (await store.getDelivery(w.owner, w.webhookId, d.eventId)) as Delivery;
      expect(await store.startAttempt(retried, '2026-01-01T00:00:11.000Z', lostAt)).toBe(true);
      expect(
        await store.endAttempt({ ...key, attempts: 2 }, { status: 'delivered', lastStatus: 200, at: lostAt }),
      ).toBe(true);
      const done = await store.getDelivery(w.owner, w.webhookId, d.eventId);
      expect(done).toMatchObject({ status: 'delivered', attempts: 2, lastStatus: 200 });
      expect(done?.lastError).toBeUndefined();
      expect(done?.nextAttemptAt).toBeUndefined();
      // An ended delivery takes no more attempts.
      expect(await store.startAttempt(done as Delivery, '2026-02-01T00:00:00.000Z', lostAt)).toBe(false);
    });

    it("lists pending deliveries that are due, oldest due first, and a webhook's latest first", async () => {
      const w = webhook('contract-erin');
      const early = delivery(w, '2030-01-01T00:00:00.000Z');
      const later = delivery(w, '2030-01-01T00:00:05.000Z');
      const notDue = delivery(w, '2030-01-01T00:00:06.000Z', '2030-01-02T00:00:00.000Z');
      for (const d of [later, notDue, early]) await store.createDelivery(d);
      const due = (await store.dueDeliveries('2030-01-01T00:00:10.000Z', 100)).filter(
        (d) => d.webhookId === w.webhookId,
      );
      expect(due.map((d) => d.eventId)).toEqual([early.eventId, later.eventId]);
      const recent = await store.recentDeliveries(w.owner, w.webhookId, 2);
      expect(recent.map((d) => d.eventId)).toEqual([notDue.eventId, later.eventId]);
      // Delivered ones leave the due listing.
      await store.startAttempt(early, '2030-01-01T00:00:10.000Z', '2030-01-01T00:01:00.000Z');
      await store.endAttempt(
        { ...early, attempts: 1 },
        { status: 'delivered', lastStatus: 200, at: '2030-01-01T00:00:10.000Z' },
      );
      const dueAfter = (await store.dueDeliveries('2030-01-01T00:00:10.000Z', 100)).filter(
        (d) => d.webhookId === w.webhookId,
      );
      expect(dueAfter.map((d) => d.eventId)).toEqual([later.eventId]);
    });
  });
}
