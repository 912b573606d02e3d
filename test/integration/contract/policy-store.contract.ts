/**
 * The PolicyStore contract (core/policies/ports.ts), written once and run against the in-memory
 * fake the unit tests use and the DynamoDB adapter production uses.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DispatchEntry, PolicyStore } from '#core/policies/ports.ts';
import { parseShareTree } from '#core/policies/shares.ts';

function entry(overrides: Partial<DispatchEntry> = {}): DispatchEntry {
  return {
    taskId: `t-${randomBytes(6).toString('hex')}`,
    owner: 'alice',
    priority: 500,
    createdAt: '2026-12-01T00:00:00.000Z',
    jobCount: 100,
    released: 0,
    cores: 1,
    memoryMB: 2000,
    siteIds: ['cern', 'bnl'],
    ...overrides,
  };
}

const TREE = parseShareTree({ groups: [{ name: 'default', share: 100 }], halfLifeSec: 3600 });

export function describePolicyStoreContract(name: string, makeStore: () => Promise<PolicyStore>): void {
  describe(`${name} (PolicyStore contract)`, () => {
    let store: PolicyStore;
    beforeAll(async () => {
      store = await makeStore();
    });
    const mine = async (taskId: string) => (await store.listActive()).find((e) => e.taskId === taskId);

    it('activates a task once: a second activation keeps its progress', async () => {
      const e = entry({ paused: true, siteTest: true });
      await store.activate(e);
      expect(await mine(e.taskId)).toEqual(e);
      await store.advance(e.taskId, 0, 10);
      await store.activate(e);
      expect((await mine(e.taskId))?.released).toBe(10);
    });

    it('moves the release cursor only from where it is', async () => {
      const e = entry();
      await store.activate(e);
      expect(await store.advance(e.taskId, 0, 5)).toBe('ok');
      expect(await store.advance(e.taskId, 0, 7)).toBe('conflict');
      expect(await store.advance(e.taskId, 5, 9)).toBe('ok');
      expect((await mine(e.taskId))?.released).toBe(9);
      expect(await store.advance(`t-${randomBytes(6).toString('hex')}`, 0, 1)).toBe('conflict');
    });

    it('carries a pause and a priority to an entry, and nothing to a task not in dispatch', async () => {
      const e = entry();
      await store.activate(e);
      await store.steerActive(e.taskId, { paused: true, priority: 900 });
      expect(await mine(e.taskId)).toMatchObject({ paused: true, priority: 900 });
      await store.steerActive(e.taskId, { paused: false });
      expect(await mine(e.taskId)).toMatchObject({ paused: false, priority: 900 });
      const absent = `t-${randomBytes(6).toString('hex')}`;
      await store.steerActive(absent, { priority: 1 });
      expect(await mine(absent)).toBeUndefined();
    });

    it('grows the jobs of a task in dispatch with their memory, never shrinks them, and adds no entry', async () => {
      const e = entry({ jobCount: 3 });
      await store.activate(e);
      await store.advance(e.taskId, 0, 3);
      await store.extendActive(e.taskId, { jobCount: 7, memoryMB: 600 });
      expect(await mine(e.taskId)).toMatchObject({ jobCount: 7, released: 3, memoryMB: 600 });
      await store.extendActive(e.taskId, { jobCount: 5, memoryMB: 900 });
      expect(await mine(e.taskId)).toMatchObject({ jobCount: 7, memoryMB: 600 });
      const absent = `t-${randomBytes(6).toString('hex')}`;
      await store.extendActive(absent, { jobCount: 9, memoryMB: 600 });
      expect(await mine(absent)).toBeUndefined();
    });

    it('holds the dispatch lock for one round at a time, runs again when asked, and frees an expired lock', async () => {
      const a = `a-${randomBytes(4).toString('hex')}`;
      const b = `b-${randomBytes(4).toString('hex')}`;
      expect(await store.acquireDispatch(a, 1000, 61_000)).toBe('acquired');
      expect(await store.acquireDispatch(b, 2000, 62_000)).toBe('busy');
      // b asked for one more round: a keeps the lock for it, then lets go.
      expect(await store.releaseDispatch(a, 63_000)).toBe('again');
      expect(await store.acquireDispatch(b, 3000, 63_000)).toBe('busy');
      expect(await store.releaseDispatch(a, 64_000)).toBe('again');
      expect(await store.releaseDispatch(a, 65_000)).toBe('released');
      expect(await store.acquireDispatch(b, 4000, 64_000)).toBe('acquired');
      // Not the holder: nothing happens.
      expect(await store.releaseDispatch(a, 0)).toBe('released');
      expect(await store.acquireDispatch(a, 5000, 65_000)).toBe('busy');
      // b's lock expired (a round that died): taken over.
      expect(await store.acquireDispatch(a, 70_000, 130_000)).toBe('acquired');
      expect(await store.releaseDispatch(b, 0)).toBe('released');
      // Taking it over cleared the request made of the old holder.
      expect(await store.releaseDispatch(a, 0)).toBe('released');
    });

    it('removes a task from dispatch, twice without harm', async () => {
      const e = entry();
      await store.activate(e);
      await store.deactivate(e.taskId);
      await store.deactivate(e.taskId);
      expect(await mine(e.taskId)).toBeUndefined();
    });

    it('stores share trees as versions, fenced on the version replaced', async () => {
      const fresh = await makeStore();
      expect(await fresh.getShares()).toBeUndefined();
      expect(await fresh.putShares(TREE, { expectedVersion: 1, at: 'a', by: 'op' })).toBe('conflict');
      expect(
        await fresh.putShares(TREE, { expectedVersion: 0, at: '2026-12-01T00:00:00.000Z', by: 'op' }),
      ).toBe('ok');
      expect(await fresh.putShares(TREE, { expectedVersion: 0, at: 'b', by: 'op' })).toBe('conflict');
      const next = { ...TREE, halfLifeSec: 7200 };
      expect(
        await fresh.putShares(next, { expectedVersion: 1, at: '2026-12-02T00:00:00.000Z', by: 'op2' }),
      ).toBe('ok');
      expect(await fresh.getShares()).toEqual({
        tree: next,
        version: 2,
        updatedAt: '2026-12-02T00:00:00.000Z',
        updatedBy: 'op2',
      });
    });

    it('writes usage and reads it back whole, the last write of a key winning', async () => {
      const key = `user#${randomBytes(4).toString('hex')}`;
      await store.putUsage([
        { key, value: 3, at: 1000 },
        { key: 'group#g', value: 1, at: 1000 },
      ]);
      await store.putUsage([{ key, value: 5.5, at: 2000 }]);
      const usage = await store.usage();
      expect(usage.get(key)).toEqual({ value: 5.5, at: 2000 });
      expect(usage.get('group#g')).toEqual({ value: 1, at: 1000 });
    });
  });
}
