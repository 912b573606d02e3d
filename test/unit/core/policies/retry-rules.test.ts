import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import {
  chooseRule,
  DEFAULT_RETRY_RULES,
  type Failure,
  parseRetryRuleSet,
  parseRetryRuleSetText,
  type RetryMatch,
  RetryRuleSetSchema,
  ruleMatches,
} from '#core/policies/retry-rules.ts';

const C = PILOT_ERROR_CODES;

describe('ruleMatches', () => {
  const oom: Failure = {
    pilotErrorCode: C.MEMORY_EXCEEDED,
    signal: 'SIGKILL',
    errorMessage: 'RSS 2100 MB > 2000 MB',
  };
  const exit: Failure = { pilotErrorCode: C.PAYLOAD_FAILED, exitCode: 137 };
  it.each<[string, RetryMatch, Failure, boolean]>([
    ['an error code in the list', { pilotErrorCodes: [1101, 1102] }, oom, true],
    ['an error code not in it', { pilotErrorCodes: [1101] }, oom, false],
    ['an exit code', { exitCodes: [137, 139] }, exit, true],
    ['an exit code on a failure without one', { exitCodes: [137] }, oom, false],
    ['a signal', { signals: ['SIGKILL'] }, oom, true],
    ['a signal on a failure without one', { signals: ['SIGKILL'] }, exit, false],
    ['a message pattern', { message: 'RSS \\d+ MB' }, oom, true],
    ['a message pattern that does not occur', { message: '^Segmentation' }, oom, false],
    ['a message pattern on a failure without a message', { message: '.*' }, exit, false],
    ['every given criterion (all hold)', { pilotErrorCodes: [1001], exitCodes: [137] }, exit, true],
    ['every given criterion (one fails)', { pilotErrorCodes: [1001], exitCodes: [1] }, exit, false],
  ])('%s → %s', (_, match, failure, expected) => {
    expect(ruleMatches(match, failure)).toBe(expected);
  });

  it('searches only the recorded message (its first 500 characters), as a replay sees it', () => {
    const long: Failure = { pilotErrorCode: C.PAYLOAD_FAILED, errorMessage: `${'x'.repeat(600)} the end` };
    expect(ruleMatches({ message: 'the end' }, long)).toBe(false);
    expect(ruleMatches({ message: '^x+' }, long)).toBe(true);
  });
});

describe('chooseRule', () => {
  const rules = RetryRuleSetSchema.parse({
    otherwise: { type: 'no-retry' },
    rules: [
      { name: 'a', match: { exitCodes: [1] }, action: { type: 'retry', backoffSec: 10 } },
      { name: 'b', match: { pilotErrorCodes: [1001] }, action: { type: 'retry-other-site' } },
    ],
  });

  it.each<[string, Failure, number | 'otherwise', string]>([
    ['the first rule that matches', { pilotErrorCode: C.PAYLOAD_FAILED, exitCode: 1 }, 0, 'retry'],
    ['a later rule', { pilotErrorCode: C.PAYLOAD_FAILED, exitCode: 2 }, 1, 'retry-other-site'],
    ['otherwise', { pilotErrorCode: C.LOOPING }, 'otherwise', 'no-retry'],
  ])('%s', (_, failure, rule, type) => {
    const choice = chooseRule(rules, failure);
    expect(choice.rule).toBe(rule);
    expect(choice.action.type).toBe(type);
  });
});

describe('DEFAULT_RETRY_RULES', () => {
  it('are a valid rule set, the same after a round trip through JSON (as stored)', () => {
    expect(parseRetryRuleSet(JSON.parse(JSON.stringify(DEFAULT_RETRY_RULES)))).toEqual(DEFAULT_RETRY_RULES);
    expect(DEFAULT_RETRY_RULES.systemRetryLimit).toBe(10);
    expect(DEFAULT_RETRY_RULES.otherwise).toEqual({ type: 'retry', spendsAttempt: true });
  });
});

describe('parseRetryRuleSet', () => {
  const rule = { match: { pilotErrorCodes: [1102] }, action: { type: 'retry-memory', factor: 2 } };

  it('fills the defaults: systemRetryLimit 10, otherwise retry, each retry spends an attempt', () => {
    expect(parseRetryRuleSet({ rules: [rule] })).toEqual({
      systemRetryLimit: 10,
      otherwise: { type: 'retry', spendsAttempt: true },
      rules: [
        {
          match: { pilotErrorCodes: [1102] },
          action: { type: 'retry-memory', factor: 2, spendsAttempt: true },
        },
      ],
    });
  });

  it.each<[string, unknown, string[]]>([
    [
      'a rule that matches nothing',
      { rules: [rule, rule, { match: {}, action: { type: 'retry' } }] },
      ['rules.2.match'],
    ],
    [
      'a factor of 0',
      { rules: [{ ...rule, action: { type: 'retry-memory', factor: 0 } }] },
      ['rules.0.action.factor'],
    ],
    [
      'a factor of 1',
      { rules: [{ ...rule, action: { type: 'retry-walltime', factor: 1 } }] },
      ['rules.0.action.factor'],
    ],
    [
      'a factor without its action',
      { rules: [{ ...rule, action: { type: 'retry-memory' } }] },
      ['rules.0.action.factor'],
    ],
    [
      'a bad regular expression',
      { rules: [{ match: { message: 'a(b' }, action: { type: 'retry' } }] },
      ['rules.0.match.message'],
    ],
    [
      'an unknown error code',
      { rules: [{ match: { pilotErrorCodes: [1102, 4242] }, action: { type: 'retry' } }] },
      ['rules.0.match.pilotErrorCodes.1'],
    ],
    [
      'success as an error code',
      { rules: [{ match: { pilotErrorCodes: [0] }, action: { type: 'retry' } }] },
      ['rules.0.match.pilotErrorCodes.0'],
    ],
    [
      'an exit code over 255',
      { rules: [{ match: { exitCodes: [256] }, action: { type: 'retry' } }] },
      ['rules.0.match.exitCodes.0'],
    ],
    [
      'a signal that is not one',
      { rules: [{ match: { signals: ['kill'] }, action: { type: 'retry' } }] },
      ['rules.0.match.signals.0'],
    ],
    [
      'an unknown action',
      { rules: [{ ...rule, action: { type: 'retry-harder' } }] },
      ['rules.0.action.type'],
    ],
    [
      'a back-off over SQS’s 900 s',
      { rules: [{ ...rule, action: { type: 'retry', backoffSec: 901 } }] },
      ['rules.0.action.backoffSec'],
    ],
    [
      'a back-off on no-retry',
      { rules: [{ ...rule, action: { type: 'no-retry', backoffSec: 5 } }] },
      ['rules.0.action.backoffSec'],
    ],
    ['an unknown field', { rules: [{ ...rule, when: 'always' }] }, ['rules.0.when']],
    ['no rules list', {}, ['rules']],
    [
      'a bad otherwise',
      { rules: [], otherwise: { type: 'retry-memory', factor: 0.5 } },
      ['otherwise.factor'],
    ],
    ['a negative system retry limit', { rules: [], systemRetryLimit: -1 }, ['systemRetryLimit']],
  ])('refuses %s, naming the field', (_, value, fields) => {
    let error: unknown;
    try {
      parseRetryRuleSet(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual(fields);
  });

  it('says why a rule that matches nothing and a factor of 0 are refused', () => {
    expect(() =>
      parseRetryRuleSet({ rules: [{ match: {}, action: { type: 'retry-memory', factor: 0 } }] }),
    ).toThrow(
      /rules\.0\.match: a rule must match on something.*rules\.0\.action\.factor: must be more than 1/,
    );
  });
});

describe('parseRetryRuleSetText', () => {
  it('reads YAML (and so JSON), keeping what was written for the API to fill', () => {
    const text =
      'rules:\n  - match: { pilotErrorCodes: [1102] }\n    action: { type: retry-memory, factor: 2 }\n';
    expect(parseRetryRuleSetText(text)).toEqual({
      rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'retry-memory', factor: 2 } }],
    });
    expect(parseRetryRuleSetText(JSON.stringify({ rules: [] }))).toEqual({ rules: [] });
  });

  it('names the file for text that is not YAML, and the field for a bad rule', () => {
    expect(() => parseRetryRuleSetText('rules: [', 'rules.yaml')).toThrow(/rules\.yaml/);
    expect(() => parseRetryRuleSetText('rules: [{ match: {}, action: { type: retry } }]')).toThrow(
      /rules\.0\.match/,
    );
  });
});
