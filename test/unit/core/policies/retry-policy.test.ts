import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import {
  decideAttempt,
  effectiveResources,
  escalateResources,
  otherSite,
} from '#core/policies/retry-policy.ts';
import { DEFAULT_RETRY_RULES, type RetryAction, RetryRuleSetSchema } from '#core/policies/retry-rules.ts';

const C = PILOT_ERROR_CODES;
const base = {
  failures: 0,
  systemRetries: 0,
  maxAttempts: 3,
  taskCancelled: false,
  rules: DEFAULT_RETRY_RULES,
};
const failed = (pilotErrorCode: PilotErrorCode) => ({ failure: { pilotErrorCode } });

describe('decideAttempt under the default rules (what Gluon did before rules were data)', () => {
  it.each([
    // code, failures before, maxAttempts → event, failures after, system retries after
    ['a payload failure spends an attempt', C.PAYLOAD_FAILED, 0, 3, 'retry', 1, 0],
    ['a memory kill spends an attempt', C.MEMORY_EXCEEDED, 1, 3, 'retry', 2, 0],
    ['a walltime kill spends an attempt', C.WALLTIME_EXCEEDED, 1, 3, 'retry', 2, 0],
    ['the last attempt fails the job', C.PAYLOAD_FAILED, 2, 3, 'fail', 3, 0],
    ['one attempt allowed: a stage-out failure fails at once', C.STAGE_OUT_FAILED, 0, 1, 'fail', 1, 0],
    ['a looping payload spends an attempt', C.LOOPING, 0, 3, 'retry', 1, 0],
    ['an eviction spends none', C.EVICTED, 2, 3, 'retry', 2, 1],
    ['an abandoned claim spends none', C.CLAIM_ABANDONED, 2, 3, 'retry', 2, 1],
    ['a stopped consumer spends none', C.CONSUMER_STOPPED, 2, 3, 'retry', 2, 1],
    ['a lost pilot spends none (infrastructure)', C.PILOT_LOST, 2, 3, 'retry', 2, 1],
    ['a failed stage-in spends none (infrastructure)', C.STAGE_IN_FAILED, 2, 3, 'retry', 2, 1],
  ] as const)('%s', (_, code, failures, maxAttempts, event, failuresAfter, systemAfter) => {
    const decision = decideAttempt({ ...base, ...failed(code), failures, maxAttempts });
    expect(decision).toMatchObject({ event, failures: failuresAfter, systemRetries: systemAfter });
  });

  it('raises memory on 1102 and walltime on 1101 (the actions of the default rules)', () => {
    const memory = decideAttempt({ ...base, ...failed(C.MEMORY_EXCEEDED) });
    const walltime = decideAttempt({ ...base, ...failed(C.WALLTIME_EXCEEDED) });
    const other = decideAttempt({ ...base, ...failed(C.PAYLOAD_FAILED) });
    expect(memory).toMatchObject({ rule: 1, action: { type: 'retry-memory', factor: 1.5 } });
    expect(walltime).toMatchObject({ rule: 2, action: { type: 'retry-walltime', factor: 1.5 } });
    expect(other).toMatchObject({ rule: 'otherwise', action: { type: 'retry', spendsAttempt: true } });
  });

  it('finishes the job when the attempt succeeded, even when the task was cancelled meanwhile', () => {
    expect(decideAttempt({ ...base, ...failed(C.OK) })).toEqual({ event: 'finish' });
    expect(decideAttempt({ ...base, ...failed(C.OK), taskCancelled: true })).toEqual({ event: 'finish' });
  });

  it('cancels the job when the task was cancelled and the attempt failed, or the pilot says it was cancelled', () => {
    expect(decideAttempt({ ...base, ...failed(C.PAYLOAD_FAILED), taskCancelled: true })).toEqual({
      event: 'cancel',
    });
    expect(decideAttempt({ ...base, ...failed(C.CANCELLED) })).toEqual({ event: 'cancel' });
  });

  it('bounds free retries by the system retry limit: past it, infrastructure errors spend attempts', () => {
    const at = (systemRetries: number, failures = 0) =>
      decideAttempt({ ...base, ...failed(C.PILOT_LOST), systemRetries, failures });
    expect(at(9)).toMatchObject({ event: 'retry', failures: 0, systemRetries: 10 });
    expect(at(10)).toMatchObject({ event: 'retry', failures: 1, systemRetries: 10 });
    expect(at(10, 2)).toMatchObject({ event: 'fail', failures: 3, systemRetries: 10 });
  });

  it("spends a site test job's attempt on an infrastructure error: the failure is the test's verdict", () => {
    const test = { ...base, maxAttempts: 1, siteTest: true };
    expect(decideAttempt({ ...test, ...failed(C.STAGE_IN_FAILED) })).toMatchObject({
      event: 'fail',
      failures: 1,
    });
    expect(decideAttempt({ ...base, ...failed(C.STAGE_IN_FAILED) })).toMatchObject({
      event: 'retry',
      failures: 0,
    });
  });

  it('exempts event-service consumers from the system retry limit (ranges have their own), not from payload failures', () => {
    const lost = { ...base, ...failed(C.PILOT_LOST), systemRetries: 50, failures: 2, consumer: true };
    expect(decideAttempt(lost)).toMatchObject({ event: 'retry', failures: 2, systemRetries: 51 });
    expect(decideAttempt({ ...lost, ...failed(C.RANGES_FAILING) })).toMatchObject({
      event: 'fail',
      failures: 3,
    });
  });
});

describe('decideAttempt with rules of its own', () => {
  const rules = RetryRuleSetSchema.parse({
    systemRetryLimit: 2,
    otherwise: { type: 'no-retry' },
    rules: [
      { match: { exitCodes: [65] }, action: { type: 'no-retry' } },
      { match: { pilotErrorCodes: [1001], signals: ['SIGSEGV'] }, action: { type: 'retry-other-site' } },
      { match: { message: 'disk quota' }, action: { type: 'retry', spendsAttempt: false, backoffSec: 60 } },
      { match: { pilotErrorCodes: [1001] }, action: { type: 'retry', backoffSec: 5 } },
    ],
  });
  const decide = (failure: Parameters<typeof decideAttempt>[0]['failure'], extra = {}) =>
    decideAttempt({ ...base, rules, failure, ...extra });

  it.each([
    [
      'no-retry fails the job at once, spending the attempt',
      { pilotErrorCode: C.PAYLOAD_FAILED, exitCode: 65 },
      { event: 'fail', failures: 1, rule: 0 },
    ],
    [
      'a signal and a code must both hold',
      { pilotErrorCode: C.PAYLOAD_FAILED, signal: 'SIGSEGV' },
      { event: 'retry', rule: 1, action: { type: 'retry-other-site' } },
    ],
    [
      'a message pattern',
      { pilotErrorCode: C.STAGE_OUT_FAILED, errorMessage: 'write: disk quota exceeded' },
      { event: 'retry', failures: 0, systemRetries: 1, rule: 2, action: { backoffSec: 60 } },
    ],
    [
      'the first matching rule wins',
      { pilotErrorCode: C.PAYLOAD_FAILED, exitCode: 1, errorMessage: 'disk quota' },
      { rule: 2 },
    ],
    [
      'a later rule when the earlier do not match',
      { pilotErrorCode: C.PAYLOAD_FAILED, exitCode: 1 },
      { event: 'retry', failures: 1, rule: 3, action: { backoffSec: 5 } },
    ],
    [
      'otherwise for a failure no rule matches',
      { pilotErrorCode: C.MEMORY_EXCEEDED },
      { event: 'fail', failures: 1, rule: 'otherwise' },
    ],
  ] as const)('%s', (_, failure, expected) => {
    expect(decide(failure)).toMatchObject(expected);
  });

  it("uses the rule set's own system retry limit", () => {
    const quota = { pilotErrorCode: C.STAGE_OUT_FAILED, errorMessage: 'disk quota' } as const;
    expect(decide(quota, { systemRetries: 1 })).toMatchObject({ failures: 0, systemRetries: 2 });
    expect(decide(quota, { systemRetries: 2 })).toMatchObject({ failures: 1, systemRetries: 2 });
  });
});

describe('escalateResources', () => {
  const memory: RetryAction = { type: 'retry-memory', factor: 1.5, spendsAttempt: true };
  const walltime: RetryAction = { type: 'retry-walltime', factor: 1.5, spendsAttempt: true };
  const current = { memoryMB: 1000, walltimeSec: 600 };
  const slot = { memoryMB: 4000, walltimeSec: 3600 };

  it.each([
    ['memory × the factor', memory, current, {}, slot, { memoryMB: 1500 }],
    ['memory rounded up to 100 MB', memory, { ...current, memoryMB: 1234 }, {}, slot, { memoryMB: 1900 }],
    [
      'walltime × the factor, to the second',
      walltime,
      { ...current, walltimeSec: 1001 },
      {},
      slot,
      { walltimeSec: 1502 },
    ],
    [
      "the task's own factor wins over the rule's",
      walltime,
      current,
      { walltimeFactor: 2 },
      slot,
      { walltimeSec: 1200 },
    ],
    ["the task's factor 1 turns raising off", memory, current, { memoryFactor: 1 }, slot, undefined],
    [
      'within the slot',
      memory,
      { ...current, memoryMB: 1800 },
      {},
      { ...slot, memoryMB: 2000 },
      { memoryMB: 2000 },
    ],
    [
      'nothing when the slot is reached',
      memory,
      { ...current, memoryMB: 2000 },
      {},
      { ...slot, memoryMB: 2000 },
      undefined,
    ],
    ['within the ceiling', { ...memory, ceilingMB: 1200 }, current, {}, slot, { memoryMB: 1200 }],
    ['nothing when already above the ceiling', { ...memory, ceilingMB: 800 }, current, {}, slot, undefined],
    [
      'walltime within its ceiling',
      { ...walltime, ceilingSec: 700 },
      current,
      {},
      slot,
      { walltimeSec: 700 },
    ],
    [
      'uncapped when the site is unknown',
      walltime,
      { ...current, walltimeSec: 1001 },
      {},
      undefined,
      { walltimeSec: 1502 },
    ],
    ['nothing for a plain retry', { type: 'retry', spendsAttempt: true }, current, {}, slot, undefined],
    [
      'nothing for another site',
      { type: 'retry-other-site', spendsAttempt: true },
      current,
      {},
      slot,
      undefined,
    ],
  ] as const)('%s', (_, action, cur, taskFactors, s, expected) => {
    expect(escalateResources({ action: action as RetryAction, current: cur, taskFactors, slot: s })).toEqual(
      expected,
    );
  });
});

describe('otherSite', () => {
  const sites = ['a', 'b', 'c', 'd'];
  it.each([
    ['the next brokered site', 'a', ['a', 'b', 'c', 'd'], 'b'],
    ['wrapping round', 'd', ['a', 'b', 'c', 'd'], 'a'],
    ['skipping sites that will not do', 'a', ['a', 'd'], 'd'],
    ['the same site when no other will do', 'b', ['b'], 'b'],
    ['the first usable one when the current site is not brokered', 'x', ['c'], 'c'],
  ] as const)('%s', (_, current, usable, expected) => {
    expect(otherSite(sites, current, (s) => (usable as readonly string[]).includes(s))).toBe(expected);
  });
});

describe('effectiveResources', () => {
  const spec = { cores: 2, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 };

  it("gives the task's resources to a job without overrides", () => {
    expect(effectiveResources(spec, undefined)).toBe(spec);
    expect(effectiveResources(spec, {})).toBe(spec);
  });

  it('replaces the resources a retry raised, and only those', () => {
    expect(effectiveResources(spec, { resources: { memoryMB: 3000 } })).toEqual({ ...spec, memoryMB: 3000 });
    expect(effectiveResources(spec, { resources: { memoryMB: 3000, walltimeSec: 5400 } })).toEqual({
      ...spec,
      memoryMB: 3000,
      walltimeSec: 5400,
    });
  });
});
