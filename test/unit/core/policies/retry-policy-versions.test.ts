import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import {
  currentRetryRules,
  getRetryPolicy,
  listRetryPolicyVersions,
  putRetryPolicy,
} from '#core/policies/retry-policy-versions.ts';
import { DEFAULT_RETRY_RULES, RetryRuleSetSchema } from '#core/policies/retry-rules.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';

const operator = { sub: 'operator', scopes: ['gluon.admin'] };
const NO_RETRY = RetryRuleSetSchema.parse({
  description: 'strict',
  otherwise: { type: 'no-retry' },
  rules: [],
});
const OOM = RetryRuleSetSchema.parse({
  rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'retry-memory', factor: 2 } }],
});

describe('the retry rules before any is stored', () => {
  it('are the built-in rules, as version 0, current', async () => {
    const deps = inMemoryDeps();
    expect(await getRetryPolicy(deps, undefined)).toEqual({
      version: 0,
      current: true,
      ruleSet: DEFAULT_RETRY_RULES,
    });
    expect(await currentRetryRules(deps)).toEqual(DEFAULT_RETRY_RULES);
    expect(await listRetryPolicyVersions(deps, { limit: 100 })).toEqual({
      items: [{ version: 0, current: true, description: 'the built-in rules', rules: 3 }],
    });
  });
});

describe('putRetryPolicy', () => {
  it('stores each change as the next version, which becomes current; older versions stay readable', async () => {
    const deps = inMemoryDeps({ start: '2026-12-01T10:00:00.000Z' });
    expect(await putRetryPolicy(deps, operator, NO_RETRY)).toEqual({
      version: 1,
      current: true,
      createdAt: '2026-12-01T10:00:00.000Z',
      createdBy: 'operator',
      ruleSet: NO_RETRY,
    });
    deps.clock.set('2026-12-01T11:00:00.000Z');
    expect((await putRetryPolicy(deps, operator, OOM)).version).toBe(2);

    expect(await currentRetryRules(deps)).toEqual(OOM);
    expect(await getRetryPolicy(deps, undefined)).toMatchObject({ version: 2, current: true, ruleSet: OOM });
    expect(await getRetryPolicy(deps, 1)).toMatchObject({ version: 1, current: false, ruleSet: NO_RETRY });
    expect(await getRetryPolicy(deps, 0)).toEqual({
      version: 0,
      current: false,
      ruleSet: DEFAULT_RETRY_RULES,
    });
    await expect(getRetryPolicy(deps, 3)).rejects.toBeInstanceOf(NotFoundError);

    expect((await listRetryPolicyVersions(deps, { limit: 100 })).items).toEqual([
      { version: 2, current: true, createdAt: '2026-12-01T11:00:00.000Z', createdBy: 'operator', rules: 1 },
      {
        version: 1,
        current: false,
        createdAt: '2026-12-01T10:00:00.000Z',
        createdBy: 'operator',
        description: 'strict',
        rules: 0,
      },
      { version: 0, current: false, description: 'the built-in rules', rules: 3 },
    ]);
  });

  it('pages the versions, closing the last page with the built-in rules', async () => {
    const deps = inMemoryDeps();
    for (let i = 0; i < 3; i++) await putRetryPolicy(deps, operator, OOM);
    const first = await listRetryPolicyVersions(deps, { limit: 2 });
    expect(first.items.map((v) => v.version)).toEqual([3, 2]);
    const second = await listRetryPolicyVersions(deps, { limit: 2, nextToken: first.nextToken as string });
    expect(second.items.map((v) => v.version)).toEqual([1, 0]);
    expect(second.nextToken).toBeUndefined();
  });

  it('takes the next number when another change took this one first (two changes at once)', async () => {
    const deps = inMemoryDeps();
    const create = deps.retryPolicies.create.bind(deps.retryPolicies);
    let raced = false;
    deps.retryPolicies.create = async (policy) => {
      if (!raced) {
        raced = true;
        // Another operator's change lands between our read of the current version and our write.
        await create({ ...policy, ruleSet: NO_RETRY, createdBy: 'other' });
      }
      return create(policy);
    };
    expect((await putRetryPolicy(deps, operator, OOM)).version).toBe(2);
    expect(await getRetryPolicy(deps, 1)).toMatchObject({ createdBy: 'other', ruleSet: NO_RETRY });
    expect(await getRetryPolicy(deps, 2)).toMatchObject({
      createdBy: 'operator',
      ruleSet: OOM,
      current: true,
    });
  });

  it('gives up with a conflict when every try loses the race, writing nothing of its own', async () => {
    const deps = inMemoryDeps();
    deps.retryPolicies.create = async () => 'conflict';
    await expect(putRetryPolicy(deps, operator, OOM)).rejects.toBeInstanceOf(ConflictError);
    expect((await getRetryPolicy(deps, undefined)).version).toBe(0);
  });
});
