import { describe, expect, it } from 'vitest';
import { cachedRetryPolicies } from '#core/policies/retry-policy-cache.ts';
import { RetryRuleSetSchema } from '#core/policies/retry-rules.ts';
import { InMemoryRetryPolicyStore, SettableClock } from '#test/support/in-memory-ports.ts';

const rules = RetryRuleSetSchema.parse({ rules: [] });
const version = (n: number) => ({ version: n, ruleSet: rules, createdAt: 'now', createdBy: 'op' });

/** A store counting its reads of the current version. */
function counted() {
  const store = new InMemoryRetryPolicyStore();
  const reads = { n: 0 };
  const current = store.current.bind(store);
  store.current = async () => {
    reads.n++;
    return current();
  };
  return { store, reads };
}

describe('cachedRetryPolicies', () => {
  it('answers cached reads from memory for the cache age, then reads the new version', async () => {
    const { store, reads } = counted();
    const clock = new SettableClock('2026-12-01T10:00:00.000Z');
    const cached = cachedRetryPolicies(store, clock, 15);
    await store.create(version(1));
    expect((await cached.current({ cached: true }))?.version).toBe(1);
    await store.create(version(2));
    clock.advance(14_999);
    expect((await cached.current({ cached: true }))?.version).toBe(1);
    expect(reads.n).toBe(1);
    clock.advance(1);
    expect((await cached.current({ cached: true }))?.version).toBe(2);
    expect(reads.n).toBe(2);
  });

  it('reads the store every time without `cached`, and when the cache age is 0', async () => {
    const { store, reads } = counted();
    const clock = new SettableClock();
    await store.create(version(1));
    const cached = cachedRetryPolicies(store, clock, 15);
    await cached.current();
    await cached.current();
    const uncached = cachedRetryPolicies(store, clock, 0);
    await uncached.current({ cached: true });
    await uncached.current({ cached: true });
    expect(reads.n).toBe(4);
  });

  it('does not keep a failed read: the next failure reads again', async () => {
    const store = new InMemoryRetryPolicyStore();
    let fail = true;
    const current = store.current.bind(store);
    store.current = async () => {
      if (fail) throw new Error('throttled');
      return current();
    };
    const cached = cachedRetryPolicies(store, new SettableClock(), 15);
    await expect(cached.current({ cached: true })).rejects.toThrow('throttled');
    fail = false;
    await store.create(version(1));
    expect((await cached.current({ cached: true }))?.version).toBe(1);
  });

  it('passes every other call to the store', async () => {
    const store = new InMemoryRetryPolicyStore();
    const cached = cachedRetryPolicies(store, new SettableClock(), 15);
    expect(await cached.create(version(1))).toBe('ok');
    expect(await cached.create(version(1))).toBe('conflict');
    expect((await cached.get(1))?.version).toBe(1);
    expect((await cached.list({ limit: 10 })).items.map((v) => v.version)).toEqual([1]);
  });
});
