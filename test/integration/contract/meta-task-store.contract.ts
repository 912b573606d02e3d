/**
 * The MetaTaskStore contract (core/meta-tasks/ports.ts), run against the in-memory fake and the
 * DynamoDB adapter (items of the tasks table).
 */
import { describe, expect, it } from 'vitest';
import { ConflictError } from '#core/errors.ts';
import type { MetaTask } from '#core/meta-tasks/meta-task.ts';
import { validateMetaTaskSpec } from '#core/meta-tasks/meta-task-spec.ts';
import type { MetaTaskStore } from '#core/meta-tasks/ports.ts';

let serial = 0;

function metaTask(owner: string, createdAt: string): MetaTask {
  serial += 1;
  const { spec, edges, order } = validateMetaTaskSpec(
    {
      name: `mt${serial}`,
      shape: 'chain',
      nodes: ['a', 'b'].map((name) => ({
        name,
        task: { payload: { command: 'true' }, events: 1, split: { eventsPerJob: 1 } },
      })),
    },
    owner,
  );
  return {
    metaTaskId: `m-contract${String(serial).padStart(6, '0')}`,
    owner,
    name: spec.name,
    shape: spec.shape,
    spec,
    edges,
    order,
    state: 'running',
    nodes: order.map((name) => ({ name, type: 'task', state: 'pending', history: [] })),
    cancelRequested: false,
    retries: 0,
    version: 1,
    createdAt,
    updatedAt: createdAt,
  };
}

export function describeMetaTaskStoreContract(name: string, makeStore: () => Promise<MetaTaskStore>): void {
  describe(`${name} (MetaTaskStore contract)`, () => {
    it('creates once, reads back what it stored', async () => {
      const store = await makeStore();
      const m = metaTask('alice', '2026-12-02T10:00:00.000Z');
      await store.create(m);
      expect(await store.get(m.metaTaskId)).toEqual(m);
      await expect(store.create(m)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.get('m-nosuchthing')).toBeUndefined();
    });

    it('updates only from the version read (a lost race writes nothing)', async () => {
      const store = await makeStore();
      const m = metaTask('alice', '2026-12-02T10:00:00.000Z');
      await store.create(m);
      const next: MetaTask = { ...m, state: 'paused', version: 2, waitToken: 'tok' };
      expect(await store.update(next)).toBe(true);
      expect(await store.update({ ...m, state: 'cancelled', version: 2 })).toBe(false);
      expect(await store.get(m.metaTaskId)).toEqual(next);
    });

    it('lists an owner’s meta-tasks newest first, in pages, and no one else’s', async () => {
      const store = await makeStore();
      const owner = `owner${serial}`;
      const made = [
        metaTask(owner, '2026-12-02T10:00:01.000Z'),
        metaTask(owner, '2026-12-02T10:00:02.000Z'),
        metaTask(owner, '2026-12-02T10:00:03.000Z'),
      ];
      for (const m of made) await store.create(m);
      await store.create(metaTask('someone-else', '2026-12-02T10:00:04.000Z'));
      const first = await store.listByOwner(owner, { limit: 2 });
      expect(first.items.map((m) => m.metaTaskId)).toEqual([made[2]?.metaTaskId, made[1]?.metaTaskId]);
      expect(first.nextToken).toBeDefined();
      const second = await store.listByOwner(owner, { limit: 2, nextToken: first.nextToken });
      expect(second.items.map((m) => m.metaTaskId)).toEqual([made[0]?.metaTaskId]);
      expect(second.items[0]?.owner).toBe(owner);
    });
  });
}
