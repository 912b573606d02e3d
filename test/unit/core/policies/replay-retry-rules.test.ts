import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import {
  type RecordedJob,
  replayJob,
  replaySteps,
  summarizeReplays,
} from '#core/policies/replay-retry-rules.ts';
import {
  DEFAULT_RETRY_RULES,
  type RetryRuleSetInput,
  RetryRuleSetSchema,
} from '#core/policies/retry-rules.ts';

const C = PILOT_ERROR_CODES;
const SLOT = { memoryMB: 4000, walltimeSec: 7200 };
const slotOf = (siteId: string) => (siteId === 'small' ? { memoryMB: 1200, walltimeSec: 600 } : SLOT);

/** A job of 1000 MB and 600 s whose attempts failed with these codes, in order. */
function job(codes: PilotErrorCode[], overrides: Partial<RecordedJob> = {}): RecordedJob {
  return {
    taskId: 't-000001',
    jobIndex: 0,
    failures: codes.map((pilotErrorCode, i) => ({ attempt: i + 1, siteId: 'big', pilotErrorCode })),
    resources: { cores: 1, memoryMB: 1000, walltimeSec: 600, diskMB: 100 },
    maxAttempts: 3,
    taskFactors: {},
    consumer: false,
    ...overrides,
  };
}

const rules = (input: RetryRuleSetInput) => RetryRuleSetSchema.parse(input);
const OOM_NO_RETRY = rules({ rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'no-retry' } }] });
const OOM_TWICE = rules({
  rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'retry-memory', factor: 2 } }],
});
const FIVE_ATTEMPTS_FREE_OOM = rules({
  rules: [
    {
      match: { pilotErrorCodes: [1102] },
      action: { type: 'retry-memory', factor: 1.5, spendsAttempt: false },
    },
  ],
});
const BACKOFF = rules({ otherwise: { type: 'retry', backoffSec: 30 }, rules: [] });

describe('replaySteps', () => {
  it('walks the failures as endAttempt decides them: resources grow with each memory kill, within the slot', () => {
    const steps = replaySteps(job([C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED]), DEFAULT_RETRY_RULES, slotOf);
    expect(steps.map((s) => [s.decision, s.action, s.next?.memoryMB])).toEqual([
      ['retry', 'retry-memory', 1500],
      ['retry', 'retry-memory', 2300],
    ]);
    const small = job([C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED]);
    small.failures = small.failures.map((f) => ({ ...f, siteId: 'small' }));
    expect(replaySteps(small, DEFAULT_RETRY_RULES, slotOf).map((s) => s.next?.memoryMB)).toEqual([
      1200, 1200,
    ]);
  });

  it('stops at the failure the rules do not retry: later failures would not have happened', () => {
    const steps = replaySteps(
      job([C.PAYLOAD_FAILED, C.PAYLOAD_FAILED, C.PAYLOAD_FAILED, C.PAYLOAD_FAILED]),
      DEFAULT_RETRY_RULES,
      slotOf,
    );
    expect(steps.map((s) => s.decision)).toEqual(['retry', 'retry', 'fail', 'stopped']);
  });

  it("applies the task's own factor over the rule's", () => {
    const steps = replaySteps(
      job([C.MEMORY_EXCEEDED], { taskFactors: { memoryFactor: 3 } }),
      OOM_TWICE,
      slotOf,
    );
    expect(steps[0]?.next?.memoryMB).toBe(3000);
  });
});

describe('replayJob', () => {
  it.each<[string, RecordedJob, ReturnType<typeof rules>, ReturnType<typeof rules>, string, number, number]>([
    // name, job, current, proposed → outcome, extra MB, extra s
    [
      'the same rules change nothing',
      job([C.MEMORY_EXCEEDED]),
      DEFAULT_RETRY_RULES,
      DEFAULT_RETRY_RULES,
      'same',
      0,
      0,
    ],
    [
      'a job that failed for good on memory is rescued by rules that retry it with more memory',
      job([C.MEMORY_EXCEEDED]),
      OOM_NO_RETRY,
      DEFAULT_RETRY_RULES,
      'rescued',
      1500,
      600,
    ],
    [
      'a job whose attempts ran out is rescued when the memory kill spends none',
      job([C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED]),
      DEFAULT_RETRY_RULES,
      FIVE_ATTEMPTS_FREE_OOM,
      'rescued',
      3500, // a fourth attempt, asking 3500 MB (under the current rules the job failed)
      600,
    ],
    [
      'no retry of a memory kill stops a job the current rules retried',
      job([C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED]),
      DEFAULT_RETRY_RULES,
      OOM_NO_RETRY,
      'stops-retrying',
      -(1500 + 2300),
      -(600 + 600),
    ],
    [
      'a larger factor asks for more memory on the same retries',
      job([C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED]),
      DEFAULT_RETRY_RULES,
      OOM_TWICE,
      'changed',
      2000 + 4000 - (1500 + 2300),
      0,
    ],
    [
      'a back-off is a change, with the same resources',
      job([C.PAYLOAD_FAILED]),
      DEFAULT_RETRY_RULES,
      BACKOFF,
      'changed',
      0,
      0,
    ],
    [
      'walltime kills: the default rules ask for 1.5 times, none when not retried',
      job([C.WALLTIME_EXCEEDED]),
      rules({ otherwise: { type: 'no-retry' }, rules: [] }),
      DEFAULT_RETRY_RULES,
      'rescued',
      1000,
      900,
    ],
  ])('%s', (_, recorded, current, proposed, outcome, extraMB, extraSec) => {
    const replay = replayJob(recorded, current, proposed, slotOf);
    expect(replay.outcome).toBe(outcome);
    expect(replay.extraMemoryMB).toBe(extraMB);
    expect(replay.extraWalltimeSec).toBe(extraSec);
  });

  it('names the first failure decided differently, with both decisions', () => {
    const replay = replayJob(
      job([C.PAYLOAD_FAILED, C.MEMORY_EXCEEDED]),
      DEFAULT_RETRY_RULES,
      OOM_NO_RETRY,
      slotOf,
    );
    expect(replay.first?.failure).toMatchObject({ attempt: 2, pilotErrorCode: C.MEMORY_EXCEEDED });
    expect(replay.first?.current).toMatchObject({
      decision: 'retry',
      action: 'retry-memory',
      next: { memoryMB: 1500 },
    });
    expect(replay.first?.proposed).toMatchObject({ decision: 'fail', rule: 0 });
  });
});

describe('summarizeReplays', () => {
  it('counts jobs and failures, each outcome, and adds up the extra memory and walltime', () => {
    const jobs = [
      job([C.MEMORY_EXCEEDED]),
      job([C.MEMORY_EXCEEDED, C.MEMORY_EXCEEDED], { jobIndex: 1 }),
      job([C.PAYLOAD_FAILED], { jobIndex: 2 }),
    ];
    const replays = jobs.map((j) => replayJob(j, OOM_NO_RETRY, OOM_TWICE, slotOf));
    expect(summarizeReplays(jobs, replays)).toEqual({
      jobs: 3,
      failures: 4,
      jobsRescued: 2,
      jobsStopRetrying: 0,
      jobsChanged: 0,
      // Job 0: one attempt more (2000 MB); job 1: two (2000, then 4000 MB); job 2: the same retry.
      extraMemoryMB: 2000 + 2000 + 4000,
      extraWalltimeSec: 600 + 600 + 600,
    });
  });
});
