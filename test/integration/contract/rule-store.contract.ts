/** The RuleStore contract (core/transfers/ports.ts), run against the in-memory fake and the DynamoDB adapter. */
import { describe, expect, it } from 'vitest';
import type { RuleStore } from '#core/transfers/ports.ts';
import type { Lock, Rule } from '#core/transfers/rule.ts';

const AT = '2026-01-01T00:00:00.000Z';
let n = 0;

function rule(overrides: Partial<Rule> = {}): Rule {
  n += 1;
  return {
    ruleId: `r-contract${String(n).padStart(4, '0')}`,
    owner: 'alice',
    did: 'user.alice:ds',
    didType: 'dataset',
    copies: 1,
    endpoints: ['DATA-B'],
    state: 'replicating',
    counters: { files: 2, available: 0, copying: 2, failed: 0 },
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

function lock(of: Rule, name: string, overrides: Partial<Lock> = {}): Lock {
  return {
    ruleId: of.ruleId,
    scope: 'user.alice',
    name,
    endpointId: 'DATA-B',
    state: 'copying',
    attempt: 1,
    bytes: 10,
    adler32: '0000abcd',
    updatedAt: AT,
    ...overrides,
  };
}

export function describeRuleStoreContract(label: string, make: () => Promise<RuleStore>): void {
  describe(`RuleStore contract: ${label}`, () => {
    it('creates a rule once, with its locks', async () => {
      const store = await make();
      const r = rule();
      const locks = [lock(r, 'f1'), lock(r, 'f2')];
      expect(await store.createRule(r, locks)).toBe(true);
      expect(await store.createRule({ ...r, owner: 'mallory' }, [])).toBe(false);
      expect(await store.getRule(r.ruleId)).toEqual(r);
      expect(await store.getLock(r.ruleId, { scope: 'user.alice', name: 'f2' }, 'DATA-B')).toEqual(locks[1]);
      expect((await store.listLocks(r.ruleId, { limit: 10 })).items).toHaveLength(2);
      expect(await store.getRule('r-nosuchrule')).toBeUndefined();
    });

    it('moves a lock and the counters once; a replay or a stale attempt moves nothing', async () => {
      const store = await make();
      const r = rule();
      const [l1, l2] = [lock(r, 'f1'), lock(r, 'f2')];
      await store.createRule(r, [l1, l2]);
      expect(await store.finishLock(l1, 'available', AT)).toBe(true);
      expect(await store.finishLock(l1, 'available', AT)).toBe(false);
      expect(await store.finishLock({ ...l2, attempt: 2 }, 'failed', AT, 'late')).toBe(false);
      expect((await store.getRule(r.ruleId))?.counters).toEqual({
        files: 2,
        available: 1,
        copying: 1,
        failed: 0,
      });
      expect(await store.settleRule(r.ruleId, 'ok', AT)).toBe(false);
      expect(await store.retryLock(l2, AT, 'corrupt')).toBe(true);
      expect(await store.retryLock(l2, AT, 'corrupt')).toBe(false);
      const retried = await store.getLock(r.ruleId, l2, 'DATA-B');
      expect(retried).toMatchObject({ attempt: 2, state: 'copying', reason: 'corrupt' });
      expect(await store.finishLock(retried as Lock, 'failed', AT, 'gave up')).toBe(true);
      expect((await store.getRule(r.ruleId))?.counters).toEqual({
        files: 2,
        available: 1,
        copying: 0,
        failed: 1,
      });
      expect(await store.settleRule(r.ruleId, 'stuck', AT)).toBe(true);
      expect((await store.getRule(r.ruleId))?.state).toBe('stuck');
    });

    it("lists an owner's rules newest first (everyone's without an owner), by DID", async () => {
      const store = await make();
      const older = rule({ owner: 'carol', did: 'user.carol:a' });
      const newer = rule({ owner: 'carol', did: 'user.carol:b' });
      const other = rule({ owner: 'dave', did: 'user.carol:a' });
      for (const r of [older, newer, other]) await store.createRule(r, []);
      expect((await store.listRules({ owner: 'carol' }, { limit: 10 })).items.map((r) => r.ruleId)).toEqual([
        newer.ruleId,
        older.ruleId,
      ]);
      expect(
        (await store.listRules({ owner: 'carol', did: 'user.carol:a' }, { limit: 10 })).items.map(
          (r) => r.ruleId,
        ),
      ).toEqual([older.ruleId]);
      const all = (await store.listRules({ did: 'user.carol:a' }, { limit: 10 })).items.map((r) => r.ruleId);
      expect(all).toEqual([other.ruleId, older.ruleId]);
    });

    it('deletes a rule once', async () => {
      const store = await make();
      const r = rule();
      await store.createRule(r, []);
      expect(await store.deleteRule(r.ruleId, AT)).toBe(true);
      expect(await store.deleteRule(r.ruleId, AT)).toBe(false);
      expect(await store.deleteRule('r-nosuchrule', AT)).toBe(false);
      expect((await store.getRule(r.ruleId))?.state).toBe('deleted');
    });
  });
}
