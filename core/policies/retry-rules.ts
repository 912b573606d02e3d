import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { fieldIssues, ValidationError } from '../errors.ts';
import { recordedMessage } from '../jobs/job.ts';
import {
  isPilotErrorCode,
  PILOT_ERROR_CODES,
  type PilotErrorCode,
  SYSTEM_ERROR_CODES,
} from '../pilots/pilot-error-codes.ts';

/**
 * Retry policy as data (PanDA's retry rules): an ordered list of rules, each matching failures on
 * the pilot error code, the payload's exit code, the signal that ended it or a pattern of its error
 * message, with an action. The first rule that matches a failure decides; a failure no rule matches
 * gets `otherwise`. Success and cancellation are not failures: no rule ever sees them.
 */

/** SQS's DelaySeconds cannot exceed 15 minutes; a back-off is a message delay, so neither can it. */
export const MAX_BACKOFF_SEC = 900;
export const MAX_RULES = 100;

/** Codes that end an attempt without a failure: rules never see them, so they cannot match on them. */
const NOT_FAILURES: ReadonlySet<number> = new Set([PILOT_ERROR_CODES.OK, PILOT_ERROR_CODES.CANCELLED]);

const FailureCodeSchema = z
  .number()
  .int()
  .refine(isPilotErrorCode, { message: 'not a pilot error code (see the error codes in the README)' })
  .refine((code) => !NOT_FAILURES.has(code), {
    message: 'success (0) and cancellation (1401) are not failures: no rule sees them',
  });

const MessagePatternSchema = z
  .string()
  .min(1)
  .max(200)
  .refine(
    (source) => {
      try {
        new RegExp(source);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid regular expression' },
  );

/**
 * What a rule matches. Each given criterion must hold (and), each list is a choice (or): `{
 * pilotErrorCodes: [1001], exitCodes: [137, 139] }` is a payload that failed with exit code 137 or 139.
 */
export const RetryMatchSchema = z
  .strictObject({
    pilotErrorCodes: z.array(FailureCodeSchema).min(1).max(50).optional(),
    exitCodes: z.array(z.number().int().min(0).max(255)).min(1).max(50).optional(),
    signals: z
      .array(z.string().regex(/^SIG[A-Z0-9]+$/, 'a signal name such as SIGKILL'))
      .min(1)
      .max(20)
      .optional(),
    /** A JavaScript regular expression, searched in the recorded error message (its first 500 characters). */
    message: MessagePatternSchema.optional(),
  })
  .refine(
    (m) =>
      m.pilotErrorCodes !== undefined ||
      m.exitCodes !== undefined ||
      m.signals !== undefined ||
      m.message !== undefined,
    { message: 'a rule must match on something: give pilotErrorCodes, exitCodes, signals or message' },
  );
export type RetryMatch = z.infer<typeof RetryMatchSchema>;

const FactorSchema = z
  .number()
  .gt(1, 'must be more than 1 (1 would not raise it; less would take it away)')
  .max(10);

/** Options of every action that retries: a delay before the next attempt, and whether it spends one. */
const retrying = {
  /** The next attempt's message becomes visible this long after it is sent (SQS DelaySeconds). */
  backoffSec: z.number().int().min(0).max(MAX_BACKOFF_SEC).optional(),
  /**
   * false for infrastructure errors: the retry uses none of the task's maxAttempts (bounded by the
   * rule set's systemRetryLimit instead).
   */
  spendsAttempt: z.boolean().default(true),
};

export const RetryActionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('no-retry') }),
  z.strictObject({ type: z.literal('retry'), ...retrying }),
  /** Memory × factor (rounded up to 100 MB), at most ceilingMB and what one slot of the site offers. */
  z.strictObject({
    type: z.literal('retry-memory'),
    factor: FactorSchema,
    ceilingMB: z.number().int().min(16).max(1_048_576).optional(),
    ...retrying,
  }),
  /** Walltime × factor (rounded up to the second), at most ceilingSec and the site's slot. */
  z.strictObject({
    type: z.literal('retry-walltime'),
    factor: FactorSchema,
    ceilingSec: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional(),
    ...retrying,
  }),
  /** The next attempt goes to another of the task's brokered sites (the same one when there is none). */
  z.strictObject({ type: z.literal('retry-other-site'), ...retrying }),
]);
export type RetryAction = z.infer<typeof RetryActionSchema>;
export type RetryingAction = Exclude<RetryAction, { type: 'no-retry' }>;

export const RetryRuleSchema = z.strictObject({
  /** For people: shown by `gluon retry-policy show` and `test`. */
  name: z.string().min(1).max(64).optional(),
  match: RetryMatchSchema,
  action: RetryActionSchema,
});
export type RetryRule = z.infer<typeof RetryRuleSchema>;

export const RetryRuleSetSchema = z.strictObject({
  description: z.string().max(500).optional(),
  /**
   * Retries that spend no attempt (spendsAttempt: false) a job may have; past it, such failures
   * spend attempts like any other, so a job cannot loop forever on a broken node. Event-service
   * consumers are exempt: they are replaced while ranges remain, and each range has its own limit.
   */
  systemRetryLimit: z.number().int().min(0).max(100).default(10),
  /** What a failure no rule matches gets. */
  otherwise: RetryActionSchema.default({ type: 'retry', spendsAttempt: true }),
  rules: z.array(RetryRuleSchema).max(MAX_RULES),
});
export type RetryRuleSet = z.infer<typeof RetryRuleSetSchema>;
export type RetryRuleSetInput = z.input<typeof RetryRuleSetSchema>;

/**
 * The rules when none were ever stored (version 0): what Gluon did before rules were data. Errors of
 * the infrastructure (the job was not at fault) are retried without spending an attempt; a memory
 * or walltime kill is retried with 1.5 times that resource, within the site's slot; any other failure
 * spends an attempt and is retried while the task's maxAttempts allows.
 */
export const DEFAULT_RETRY_RULES: RetryRuleSet = RetryRuleSetSchema.parse({
  description: 'the built-in rules',
  systemRetryLimit: 10,
  otherwise: { type: 'retry' },
  rules: [
    {
      name: 'infrastructure',
      match: { pilotErrorCodes: [...SYSTEM_ERROR_CODES] },
      action: { type: 'retry', spendsAttempt: false },
    },
    {
      name: 'out-of-memory',
      match: { pilotErrorCodes: [PILOT_ERROR_CODES.MEMORY_EXCEEDED] },
      action: { type: 'retry-memory', factor: 1.5 },
    },
    {
      name: 'out-of-walltime',
      match: { pilotErrorCodes: [PILOT_ERROR_CODES.WALLTIME_EXCEEDED] },
      action: { type: 'retry-walltime', factor: 1.5 },
    },
  ],
});

/** What is known of a failed attempt, as a rule sees it. */
export interface Failure {
  pilotErrorCode: PilotErrorCode;
  exitCode?: number;
  signal?: string;
  errorMessage?: string;
}

export function ruleMatches(match: RetryMatch, failure: Failure): boolean {
  if (match.pilotErrorCodes !== undefined && !match.pilotErrorCodes.includes(failure.pilotErrorCode))
    return false;
  if (
    match.exitCodes !== undefined &&
    (failure.exitCode === undefined || !match.exitCodes.includes(failure.exitCode))
  )
    return false;
  if (
    match.signals !== undefined &&
    (failure.signal === undefined || !match.signals.includes(failure.signal))
  )
    return false;
  if (match.message !== undefined) {
    // Only the recorded (capped) message: a replay of recorded failures then decides as live did.
    const message = recordedMessage(failure.errorMessage);
    if (message === undefined || !new RegExp(match.message).test(message)) return false;
  }
  return true;
}

/** Which rule decides a failure: its index, or 'otherwise'; and its action. */
export interface RuleChoice {
  rule: number | 'otherwise';
  action: RetryAction;
}

/** The first rule that matches decides; a failure no rule matches gets `otherwise`. */
export function chooseRule(ruleSet: RetryRuleSet, failure: Failure): RuleChoice {
  const index = ruleSet.rules.findIndex((rule) => ruleMatches(rule.match, failure));
  const rule = ruleSet.rules[index];
  return rule === undefined
    ? { rule: 'otherwise', action: ruleSet.otherwise }
    : { rule: index, action: rule.action };
}

/** A rule set from a request body or a file, every bad field named (`rules.2.match`, `rules.0.action.factor`). */
export function parseRetryRuleSet(value: unknown, prefix?: string): RetryRuleSet {
  const result = RetryRuleSetSchema.safeParse(value);
  if (!result.success)
    throw new ValidationError('invalid retry rules', fieldIssues(result.error.issues, prefix));
  return result.data;
}

/** Parses YAML or JSON text (JSON is YAML) into a validated rule set. */
export function parseRetryRuleSetText(text: string, source = 'rules'): RetryRuleSetInput {
  let value: unknown;
  try {
    value = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ValidationError('invalid retry rules', [{ field: source, message: (error as Error).message }]);
  }
  parseRetryRuleSet(value);
  return value as RetryRuleSetInput;
}
