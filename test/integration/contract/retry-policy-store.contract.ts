/**
 * The RetryPolicyStore contract (core/policies/ports.ts), written once and run against every
 * implementation: the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import type { RetryPolicyStore, RetryPolicyVersion } from '#core/policies/ports.ts';
import { DEFAULT_RETRY_RULES, RetryRuleSetSchema } from '#core/policies/retry-rules.ts';

const OOM = RetryRuleSetSchema.parse({
  description: 'memory × 2',
  rules: [
    {
      name: 'oom',
      match: { pilotErrorCodes: [1102], message: 'RSS \\d+' },
      action: { type: 'retry-memory', factor: 2, ceilingMB: 8000, backoffSec: 60 },
    },
  ],
});

function version(n: number, ruleSet = OOM): RetryPolicyVersion {
  return { version: n, ruleSet, createdAt: `2026-12-01T10:00:0${n % 10}.000Z`, createdBy: `op${n}` };
}

/** `makeStore` gives a new, empty store (each test its own: versions are numbered per store). */
export function describeRetryPolicyStoreContract(
  name: string,
  makeStore: () => Promise<RetryPolicyStore>,
): void {
  describe(`${name} (RetryPolicyStore contract)`, () => {
    it('has no current version and no versions before any is stored', async () => {
      const store = await makeStore();
      expect(await store.current()).toBeUndefined();
      expect(await store.get(1)).toBeUndefined();
      expect(await store.list({ limit: 10 })).toEqual({ items: [] });
    });

    it('stores versions 1, 2, … each becoming current, every one readable as it was stored', async () => {
      const store = await makeStore();
      expect(await store.create(version(1))).toBe('ok');
      expect(await store.current()).toEqual(version(1));
      expect(await store.create(version(2, DEFAULT_RETRY_RULES))).toBe('ok');
      expect(await store.current()).toEqual(version(2, DEFAULT_RETRY_RULES));
      expect(await store.current({ cached: true })).toEqual(version(2, DEFAULT_RETRY_RULES));
      expect(await store.get(1)).toEqual(version(1));
      expect(await store.get(2)).toEqual(version(2, DEFAULT_RETRY_RULES));
      expect(await store.get(3)).toBeUndefined();
    });

    it('refuses a version that is not the next one, writing nothing: two changes cannot both become version N', async () => {
      const store = await makeStore();
      expect(await store.create(version(2))).toBe('conflict');
      expect(await store.current()).toBeUndefined();
      expect(await store.create(version(1))).toBe('ok');
      const [a, b] = await Promise.all([
        store.create({ ...version(2), createdBy: 'a' }),
        store.create({ ...version(2), createdBy: 'b' }),
      ]);
      expect([a, b].sort()).toEqual(['conflict', 'ok']);
      const winner = a === 'ok' ? 'a' : 'b';
      expect(await store.get(2)).toMatchObject({ createdBy: winner });
      expect(await store.current()).toMatchObject({ version: 2, createdBy: winner });
      // A stored version is immutable: writing it again is refused.
      expect(await store.create({ ...version(1), createdBy: 'late' })).toBe('conflict');
      expect(await store.get(1)).toEqual(version(1));
      expect(await store.create(version(4))).toBe('conflict');
      expect((await store.current())?.version).toBe(2);
    });

    it('lists the versions newest first, page by page', async () => {
      const store = await makeStore();
      for (let n = 1; n <= 5; n++) expect(await store.create(version(n))).toBe('ok');
      const seen: number[] = [];
      let nextToken: string | undefined;
      do {
        const page = await store.list({ limit: 2, ...(nextToken === undefined ? {} : { nextToken }) });
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((v) => v.version));
        nextToken = page.nextToken;
      } while (nextToken !== undefined);
      expect(seen).toEqual([5, 4, 3, 2, 1]);
      expect((await store.list({ limit: 10 })).items[4]).toEqual(version(1));
    });

    it('refuses a page token that is not one of its own', async () => {
      const store = await makeStore();
      await expect(store.list({ limit: 2, nextToken: 'bogus!' })).rejects.toBeInstanceOf(ValidationError);
    });
  });
}
