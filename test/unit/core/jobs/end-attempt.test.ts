import { describe, expect, it, vi } from 'vitest';
import { abandonClaim, endAttempt, optional } from '#core/jobs/end-attempt.ts';
import { RECORDED_MESSAGE_MAX } from '#core/jobs/job.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { putRetryPolicy } from '#core/policies/retry-policy-versions.ts';
import { type RetryRuleSetInput, RetryRuleSetSchema } from '#core/policies/retry-rules.ts';
import type { SiteInput } from '#core/sites/site.ts';
import { DEFAULT_START, inMemoryDeps, settleJobChanges, siteOf } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  BIG_SLOT,
  claimed,
  generationSpec,
  recordOf,
  runningTask,
  USAGE,
} from '../scenario.ts';

const ENDED_AT = '2026-01-01T00:01:00.000Z';
const log = { name: 'attempt.log', key: 'tasks/t-000001/jobs/0/attempt-1/attempt.log', bytes: 321 };

/** A task whose job 0 runs on a pilot at cern, a minute later. */
async function setup(spec = generationSpec(2), slot = BIG_SLOT) {
  const deps = inMemoryDeps();
  await addSite(deps, { siteId: 'cern', slot });
  const taskId = await runningTask(deps, spec);
  const pilotId = await addPilot(deps);
  const ref = { taskId, jobIndex: 0, attempt: 1 };
  await claimed(deps, pilotId, ref);
  deps.jobs.takeChanges();
  deps.clock.set(ENDED_AT);
  return { deps, taskId, pilotId, ref };
}

const failed = (fields = {}) => ({
  state: 'failed' as const,
  pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
  exitCode: 3,
  errorMessage: 'segfault',
  usage: USAGE,
  ...fields,
});

describe('endAttempt', () => {
  it('finishes the job with the result when the attempt succeeded, without reading the record', async () => {
    const { deps, ref, pilotId } = await setup();
    const get = vi.spyOn(deps.jobs, 'get');
    const outputs = [{ name: 'events.root', key: 'k', bytes: 10 }];
    const ended = await endAttempt(deps, ref, pilotId, {
      state: 'finished',
      pilotErrorCode: PILOT_ERROR_CODES.OK,
      exitCode: 0,
      usage: USAGE,
      outputs,
      log,
    });
    expect(ended).toEqual({ outcome: 'ok', jobState: 'finished', attempt: 1 });
    expect(get).not.toHaveBeenCalled();
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({
      state: 'finished',
      attempt: 1,
      failures: 0,
      pilotId,
      startedAt: DEFAULT_START,
      endedAt: ENDED_AT,
      pilotErrorCode: 0,
      exitCode: 0,
      usage: USAGE,
      outputs,
      log,
    });
  });

  it('queues the next attempt, keeps the ended one for the archive and clears the run fields when attempts are left', async () => {
    const { deps, ref, pilotId } = await setup();
    const ended = await endAttempt(deps, ref, pilotId, failed({ log, host: 'wn009' }));
    expect(ended).toEqual({ outcome: 'ok', jobState: 'queued', attempt: 2 });
    const record = await recordOf(deps, ref.taskId, 0);
    expect(record).toEqual({
      taskId: ref.taskId,
      jobIndex: 0,
      state: 'queued',
      attempt: 2,
      failures: 1,
      siteId: 'cern',
      queuedAt: ENDED_AT,
      updatedAt: ENDED_AT,
      ended: {
        attempt: 1,
        pilotId,
        siteId: 'cern',
        host: 'wn009',
        state: 'failed',
        startedAt: DEFAULT_START,
        endedAt: ENDED_AT,
        pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
        exitCode: 3,
        errorMessage: 'segfault',
        usage: USAGE,
        log,
      },
    });
  });

  it('takes the host of the claim for the ended attempt when the result names none', async () => {
    const { deps, ref, pilotId } = await setup();
    await endAttempt(deps, ref, pilotId, failed());
    expect((await recordOf(deps, ref.taskId, 0)).ended?.host).toBe('wn001.example.org');
  });

  it('fails the job, counting the failure, when its last attempt fails', async () => {
    const { deps, ref, pilotId } = await setup(generationSpec(1, { maxAttempts: 1 }));
    expect(await endAttempt(deps, ref, pilotId, failed({ log }))).toEqual({
      outcome: 'ok',
      jobState: 'failed',
      attempt: 1,
    });
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({
      state: 'failed',
      attempt: 1,
      failures: 1,
      pilotId,
      endedAt: ENDED_AT,
      pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_FAILED,
      errorMessage: 'segfault',
      log,
    });
  });

  it('cancels the job when its task was cancelled, whatever the error', async () => {
    const { deps, ref, pilotId } = await setup();
    await deps.tasks.requestCancel(ref.taskId, ENDED_AT);
    expect(await endAttempt(deps, ref, pilotId, failed())).toEqual({
      outcome: 'ok',
      jobState: 'cancelled',
      attempt: 1,
    });
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({ state: 'cancelled', failures: 0 });
  });

  it('cancels the job when the pilot killed it because it was cancelled', async () => {
    const { deps, ref, pilotId } = await setup();
    const ended = await endAttempt(deps, ref, pilotId, {
      state: 'cancelled',
      pilotErrorCode: PILOT_ERROR_CODES.CANCELLED,
    });
    expect(ended.outcome === 'ok' && ended.jobState).toBe('cancelled');
  });

  it('retries an eviction without using an attempt of the budget', async () => {
    const { deps, ref, pilotId } = await setup(generationSpec(1, { maxAttempts: 1 }));
    const ended = await endAttempt(deps, ref, pilotId, {
      state: 'evicted',
      pilotErrorCode: PILOT_ERROR_CODES.EVICTED,
    });
    expect(ended).toEqual({ outcome: 'ok', jobState: 'queued', attempt: 2 });
    const record = await recordOf(deps, ref.taskId, 0);
    expect(record).toMatchObject({
      failures: 0,
      ended: { state: 'evicted', pilotErrorCode: PILOT_ERROR_CODES.EVICTED },
    });
  });

  it('raises the memory of the next attempt after a memory kill, within the slot of the job site', async () => {
    const spec = generationSpec(1, { resources: { memoryMB: 1000 }, retry: { memoryFactor: 3 } });
    const { deps, ref, pilotId } = await setup(spec, { ...BIG_SLOT, memoryMB: 2500 });
    await endAttempt(deps, ref, pilotId, failed({ pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED }));
    expect((await recordOf(deps, ref.taskId, 0)).resources).toEqual({ memoryMB: 2500 });
  });

  it('raises the walltime after a walltime kill and keeps a memory raised before', async () => {
    const { deps, ref, pilotId } = await setup(generationSpec(1, { resources: { walltimeSec: 600 } }));
    await deps.jobs.update(ref, { set: { resources: { memoryMB: 3000 } } }, [
      { state: 'running', attempt: 1 },
    ]);
    await endAttempt(deps, ref, pilotId, failed({ pilotErrorCode: PILOT_ERROR_CODES.WALLTIME_EXCEEDED }));
    const record = await recordOf(deps, ref.taskId, 0);
    expect(record.resources).toEqual({ memoryMB: 3000, walltimeSec: 900 });
    expect(record.ended?.resources).toEqual({ memoryMB: 3000 });
  });

  it('keeps the resources as they were after an error that no resource cures', async () => {
    const { deps, ref, pilotId } = await setup();
    await endAttempt(deps, ref, pilotId, failed());
    expect((await recordOf(deps, ref.taskId, 0)).resources).toBeUndefined();
  });

  it('cuts a long error message on the record (the whole text is in the log)', async () => {
    const { deps, ref, pilotId } = await setup(generationSpec(1, { maxAttempts: 1 }));
    await endAttempt(deps, ref, pilotId, failed({ errorMessage: 'e'.repeat(5000) }));
    expect((await recordOf(deps, ref.taskId, 0)).errorMessage).toHaveLength(RECORDED_MESSAGE_MAX);
  });

  it.each([
    ['another pilot', 'p-999999', 1],
    ['another attempt', undefined, 2],
  ] as const)(
    'answers conflict and writes nothing when the report comes from %s',
    async (_who, other, attempt) => {
      const { deps, ref, pilotId } = await setup();
      const before = await recordOf(deps, ref.taskId, 0);
      const who = other ?? pilotId;
      expect(
        await endAttempt(deps, { ...ref, attempt }, who, { state: 'finished', pilotErrorCode: 0 }),
      ).toEqual({
        outcome: 'conflict',
      });
      expect(await endAttempt(deps, { ...ref, attempt }, who, failed())).toEqual({ outcome: 'conflict' });
      expect(await recordOf(deps, ref.taskId, 0)).toEqual(before);
    },
  );

  it('answers conflict when the token names another site than the job runs at', async () => {
    const { deps, ref, pilotId } = await setup();
    expect(
      await endAttempt(deps, ref, pilotId, { state: 'finished', pilotErrorCode: 0 }, { siteId: 'bnl' }),
    ).toEqual({
      outcome: 'conflict',
    });
    expect((await recordOf(deps, ref.taskId, 0)).state).toBe('running');
  });

  it('answers conflict to a second end of the same attempt (a replay), leaving the first', async () => {
    const { deps, ref, pilotId } = await setup();
    await endAttempt(deps, ref, pilotId, failed());
    expect(await endAttempt(deps, ref, pilotId, failed())).toEqual({ outcome: 'conflict' });
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({ state: 'queued', attempt: 2, failures: 1 });
  });

  it('answers conflict for a job that was never claimed', async () => {
    const { deps, ref, pilotId } = await setup();
    expect(await endAttempt(deps, { ...ref, jobIndex: 1 }, pilotId, failed())).toEqual({
      outcome: 'conflict',
    });
    expect(await deps.jobs.get(ref.taskId, 1)).toBeUndefined();
  });
});

describe('abandonClaim', () => {
  it('fences a first claim that never landed: the job gets a record queued at attempt 2', async () => {
    const { deps, ref, pilotId } = await setup();
    const first = { ...ref, jobIndex: 1 };
    expect(await abandonClaim(deps, first, pilotId, 'cern')).toBe('ok');
    expect(await recordOf(deps, ref.taskId, 1)).toEqual({
      taskId: ref.taskId,
      jobIndex: 1,
      state: 'queued',
      attempt: 2,
      failures: 0,
      siteId: 'cern',
      queuedAt: ENDED_AT,
      updatedAt: ENDED_AT,
      ended: {
        attempt: 1,
        pilotId,
        siteId: 'cern',
        state: 'abandoned',
        startedAt: ENDED_AT,
        endedAt: ENDED_AT,
        pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED,
        errorMessage: `pilot ${pilotId} never completed its claim`,
      },
    });
  });

  it('fences a later attempt queued by its record, keeping its failures, site and resources', async () => {
    const { deps, ref, pilotId } = await setup();
    await endAttempt(deps, ref, pilotId, failed({ pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED }));
    const queued = await recordOf(deps, ref.taskId, 0);
    expect(await abandonClaim(deps, { ...ref, attempt: 2 }, 'p-000777', 'elsewhere')).toBe('ok');
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 3,
      failures: 1,
      siteId: 'cern',
      resources: queued.resources,
      ended: { attempt: 2, pilotId: 'p-000777', siteId: 'elsewhere', state: 'abandoned' },
    });
  });

  it('answers conflict when the claim did land (the job runs), and changes nothing', async () => {
    const { deps, ref, pilotId } = await setup();
    expect(await abandonClaim(deps, ref, pilotId, 'cern')).toBe('conflict');
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({ state: 'running', attempt: 1 });
  });

  it('answers conflict when the attempt was already abandoned', async () => {
    const { deps, ref, pilotId } = await setup();
    const first = { ...ref, jobIndex: 1 };
    await abandonClaim(deps, first, pilotId, 'cern');
    expect(await abandonClaim(deps, first, pilotId, 'cern')).toBe('conflict');
    expect((await recordOf(deps, ref.taskId, 1)).attempt).toBe(2);
  });
});

describe('optional', () => {
  it('gives the field when the value is defined, nothing otherwise', () => {
    expect(optional('host', 'wn1')).toEqual({ host: 'wn1' });
    expect(optional('host', undefined)).toEqual({});
    expect(optional('exitCode', 0)).toEqual({ exitCode: 0 });
  });
});

describe('endAttempt under the current retry rules', () => {
  /** Stores `rules` as the next version of the retry rules, as PUT /retry-policy does. */
  async function storeRules(deps: Awaited<ReturnType<typeof setup>>['deps'], rules: RetryRuleSetInput) {
    await putRetryPolicy(deps, { sub: 'operator', scopes: [] }, RetryRuleSetSchema.parse(rules));
  }

  it('decides with the version stored last, read at the failure (no restart)', async () => {
    const { deps, ref, pilotId } = await setup();
    await storeRules(deps, { rules: [{ match: { exitCodes: [3] }, action: { type: 'no-retry' } }] });
    expect(await endAttempt(deps, ref, pilotId, failed({ exitCode: 3 }))).toEqual({
      outcome: 'ok',
      jobState: 'failed',
      attempt: 1,
    });
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({ state: 'failed', failures: 1, exitCode: 3 });
  });

  it('reads the rules through the cached path of the store', async () => {
    const { deps, ref, pilotId } = await setup();
    const current = vi.spyOn(deps.retryPolicies, 'current');
    await endAttempt(deps, ref, pilotId, failed());
    expect(current).toHaveBeenCalledWith({ cached: true });
  });

  it('retries an infrastructure error without spending an attempt, counting it as a system retry', async () => {
    const { deps, ref, pilotId } = await setup();
    await endAttempt(deps, ref, pilotId, failed({ pilotErrorCode: PILOT_ERROR_CODES.STAGE_IN_FAILED }));
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 0,
      systemRetries: 1,
    });
  });

  it("raises memory within the rule's ceiling, and its back-off delays the next attempt's message", async () => {
    const spec = generationSpec(1, { resources: { memoryMB: 1000 } });
    const { deps, ref, pilotId } = await setup(spec);
    await storeRules(deps, {
      rules: [
        {
          match: { pilotErrorCodes: [1102] },
          action: { type: 'retry-memory', factor: 2, ceilingMB: 1500, backoffSec: 30 },
        },
      ],
    });
    await endAttempt(deps, ref, pilotId, failed({ pilotErrorCode: PILOT_ERROR_CODES.MEMORY_EXCEEDED }));
    expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({
      attempt: 2,
      resources: { memoryMB: 1500 },
      backoffSec: 30,
    });
    deps.queue.clear();
    await settleJobChanges(deps);
    expect(deps.queue.delayed).toEqual([
      { message: expect.objectContaining({ taskId: ref.taskId, jobIndex: 0, attempt: 2 }), delaySec: 30 },
    ]);

    // The next retry has no back-off: the record forgets the last one, and the message goes at once.
    await claimed(deps, pilotId, { ...ref, attempt: 2 });
    await endAttempt(deps, { ...ref, attempt: 2 }, pilotId, failed());
    expect((await recordOf(deps, ref.taskId, 0)).backoffSec).toBeUndefined();
    deps.queue.delayed.length = 0;
    await settleJobChanges(deps);
    expect(deps.queue.delayed).toEqual([]);
    expect(deps.queue.sent).toContainEqual(expect.objectContaining({ attempt: 3 }));
  });

  describe('retry-other-site', () => {
    /** Sites bnl, cern (where job 0 runs) and dubna, all brokered; `dubna` as given. */
    async function threeSites(dubna: Partial<SiteInput> = {}) {
      const deps = inMemoryDeps();
      for (const siteId of ['bnl', 'cern', 'dubna']) await addSite(deps, { siteId, slot: BIG_SLOT });
      const taskId = await runningTask(deps, generationSpec(2, { resources: { memoryMB: 4000 } }));
      // dubna changes only after brokerage, as a site going down while the task runs.
      await deps.sites.put(siteOf({ siteId: 'dubna', slot: BIG_SLOT, ...dubna }));
      expect((await deps.tasks.getHead(taskId))?.siteIds).toEqual(['bnl', 'cern', 'dubna']);
      const pilotId = await addPilot(deps);
      const ref = { taskId, jobIndex: 0, attempt: 1 };
      await claimed(deps, pilotId, ref);
      await storeRules(deps, { otherwise: { type: 'retry-other-site' }, rules: [] });
      await endAttempt(deps, ref, pilotId, failed());
      return recordOf(deps, taskId, 0);
    }

    it.each<[string, Partial<SiteInput>, string]>([
      ['sends the next attempt to the next brokered site', {}, 'dubna'],
      ['skips a site that went offline', { status: 'offline' }, 'bnl'],
      [
        "skips a site whose slot the job's resources do not fit",
        { slot: { ...BIG_SLOT, memoryMB: 2000 } },
        'bnl',
      ],
    ])('%s', async (_, dubna, expected) => {
      const record = await threeSites(dubna);
      expect(record).toMatchObject({ state: 'queued', attempt: 2, failures: 1, siteId: expected });
      expect(record.ended?.siteId).toBe('cern');
    });

    it('stays at the site when the task has no other', async () => {
      const { deps, ref, pilotId } = await setup();
      await storeRules(deps, { otherwise: { type: 'retry-other-site' }, rules: [] });
      await endAttempt(deps, ref, pilotId, failed());
      expect(await recordOf(deps, ref.taskId, 0)).toMatchObject({ state: 'queued', siteId: 'cern' });
    });
  });
});
