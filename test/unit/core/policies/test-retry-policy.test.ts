import { describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import { TestRetryPolicyRequestSchema } from '#core/api/retry-policy.ts';
import type { Principal } from '#core/deps.ts';
import { NotFoundError } from '#core/errors.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { putRetryPolicy } from '#core/policies/retry-policy-versions.ts';
import {
  DEFAULT_RETRY_RULES,
  type RetryRuleSetInput,
  RetryRuleSetSchema,
} from '#core/policies/retry-rules.ts';
import { testRetryPolicy } from '#core/policies/test-retry-policy.ts';
import { type InMemoryDeps, inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  BIG_SLOT,
  bob,
  claimed,
  complete,
  generationSpec,
  report,
  runningTask,
} from '../scenario.ts';

const OOM_NO_RETRY: RetryRuleSetInput = {
  rules: [{ match: { pilotErrorCodes: [1102] }, action: { type: 'no-retry' } }],
};

/** A task of `owner` with one job per list of codes, each attempt of it failing with the next code. */
async function taskWithFailures(
  deps: InMemoryDeps,
  owner: Principal,
  jobs: PilotErrorCode[][],
): Promise<string> {
  const taskId = await runningTask(
    deps,
    generationSpec(jobs.length, { resources: { memoryMB: 1000 } }),
    owner,
  );
  const pilotId = await addPilot(deps);
  for (const [jobIndex, codes] of jobs.entries()) {
    for (const [i, code] of codes.entries()) {
      const ref = { taskId, jobIndex, attempt: i + 1 };
      await claimed(deps, pilotId, ref);
      await complete(deps, pilotId, report(ref, code));
      await settleJobChanges(deps);
    }
  }
  return taskId;
}

function request(ruleSet: RetryRuleSetInput, fields: { taskIds?: string[]; limit?: number } = {}) {
  return TestRetryPolicyRequestSchema.parse({ ruleSet, ...fields });
}

describe('testRetryPolicy', () => {
  it("replays the caller's recent tasks: a job that failed on memory is rescued by the default rules", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'cern', slot: BIG_SLOT });
    await putRetryPolicy(deps, alice, RetryRuleSetSchema.parse(OOM_NO_RETRY));
    const M = PILOT_ERROR_CODES.MEMORY_EXCEEDED;
    const taskId = await taskWithFailures(deps, alice, [[M], [PILOT_ERROR_CODES.PAYLOAD_FAILED, 0], [0]]);

    const answer = await testRetryPolicy(deps, alice, request(DEFAULT_RETRY_RULES));
    expect(answer).toEqual({
      currentVersion: 1,
      tasks: [taskId],
      jobs: 2, // job 2 never failed
      failures: 2,
      jobsRescued: 1,
      jobsStopRetrying: 0,
      jobsChanged: 0,
      extraMemoryMB: 1500,
      extraWalltimeSec: 3600,
      truncated: false,
      changes: [
        {
          taskId,
          jobIndex: 0,
          outcome: 'rescued',
          attempt: 1,
          pilotErrorCode: M,
          exitCode: 1,
          current: { decision: 'fail', rule: 0 },
          proposed: {
            decision: 'retry',
            rule: 1,
            action: 'retry-memory',
            spendsAttempt: true,
            next: { memoryMB: 1500, walltimeSec: 3600 },
          },
          extraMemoryMB: 1500,
          extraWalltimeSec: 3600,
        },
      ],
    });
    // The replay wrote nothing: the job is still failed, the rules still version 1.
    expect((await deps.jobs.get(taskId, 0))?.state).toBe('failed');
    expect((await deps.retryPolicies.current())?.version).toBe(1);
  });

  it('says the proposed rules change nothing when they decide every failure as the current ones', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    await taskWithFailures(deps, alice, [[PILOT_ERROR_CODES.MEMORY_EXCEEDED, 0]]);
    const answer = await testRetryPolicy(deps, alice, request(DEFAULT_RETRY_RULES));
    expect(answer).toMatchObject({ currentVersion: 0, jobs: 1, failures: 1, jobsRescued: 0, changes: [] });
  });

  it("reads only the caller's own tasks, the most recent `limit`; another user's named task is not found", async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const E = PILOT_ERROR_CODES.PAYLOAD_FAILED;
    const older = await taskWithFailures(deps, alice, [[E]]);
    deps.clock.advance(1000);
    const newer = await taskWithFailures(deps, alice, [[E]]);
    const bobs = await taskWithFailures(deps, bob, [[E]]);

    expect((await testRetryPolicy(deps, alice, request(OOM_NO_RETRY))).tasks).toEqual([newer, older]);
    expect((await testRetryPolicy(deps, alice, request(OOM_NO_RETRY, { limit: 1 }))).tasks).toEqual([newer]);
    expect((await testRetryPolicy(deps, alice, request(OOM_NO_RETRY, { taskIds: [older] }))).tasks).toEqual([
      older,
    ]);
    await expect(
      testRetryPolicy(deps, alice, request(OOM_NO_RETRY, { taskIds: [bobs] })),
    ).rejects.toBeInstanceOf(NotFoundError);
    const operator = { sub: 'operator', scopes: [SCOPES.admin] };
    expect(
      (await testRetryPolicy(deps, operator, request(OOM_NO_RETRY, { taskIds: [bobs, older] }))).tasks,
    ).toEqual([bobs, older]);
  });
});
