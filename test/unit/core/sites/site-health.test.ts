import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { registerPilot } from '#core/pilots/register-pilot.ts';
import { type SiteInput, type SiteRecord, SiteSchema, type TestTaskState } from '#core/sites/site.ts';
import {
  checkSiteHealth,
  evaluateSiteHealth,
  HEALTH_DEFAULTS,
  type HealthAction,
  type HealthInput,
  SITE_HEALTH_OWNER,
  siteTestSpec,
  testBackoffSec,
} from '#core/sites/site-health.ts';
import { bucketOf, type OutcomeCounts, type SiteOutcomes } from '#core/sites/site-outcomes.ts';
import { putSite } from '#core/sites/sites.ts';
import {
  DEFAULT_START,
  type InMemoryDeps,
  inMemoryDeps,
  settleJobChanges,
} from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  BIG_SLOT,
  claimed,
  complete,
  generationSpec,
  jobRef,
  pilotToken,
  report,
  runningTask,
  taskOf,
  Workflow,
} from '../scenario.ts';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const MIN = 60_000;

/** Outcomes counted `minutesAgo` before NOW. */
function outcomes(minutesAgo: number, counts: Partial<OutcomeCounts>): SiteOutcomes {
  return { buckets: { [bucketOf(new Date(NOW.getTime() - minutesAgo * MIN))]: counts } };
}

function site(input: Partial<SiteInput> = {}, record: Partial<SiteRecord> = {}): SiteRecord {
  return { ...SiteSchema.parse({ siteId: 'cern', ...input }), ...record };
}

/** A site site health put in test, with this test task. */
function inTest(testTask?: TestTaskState, input: Partial<SiteInput> = {}): SiteRecord {
  return site(input, {
    status: 'test',
    statusVersion: 2,
    statusChange: {
      at: '2026-01-01T11:00:00.000Z',
      from: 'online',
      to: 'test',
      reason: 'sick',
      by: 'site-health',
    },
    ...(testTask === undefined ? {} : { testTask }),
  });
}

const SENT = { taskId: 't-000009', sentAt: '2026-01-01T11:50:00.000Z', failures: 0 };
const FAILED = { ...SENT, failures: 2, failedAt: '2026-01-01T11:55:00.000Z' };

describe('evaluateSiteHealth', () => {
  const cases: Array<{ why: string; input: Omit<HealthInput, 'now' | 'defaults'>; expected: HealthAction }> =
    [
      {
        why: 'an online site with infrastructure failures above half of 5 or more outcomes goes to test',
        input: { site: site(), outcomes: outcomes(10, { stageIn: 5, pilotLost: 1, finished: 1 }) },
        expected: {
          action: 'exclude',
          reason:
            '6 of 7 recent attempts failed for infrastructure reasons (stage-in 5, lost heartbeat 1) in the last 60 min: above 50%',
        },
      },
      {
        why: 'node checks failed at registration count as infrastructure failures',
        input: { site: site(), outcomes: outcomes(1, { nodeChecks: 5 }) },
        expected: {
          action: 'exclude',
          reason:
            '5 of 5 recent attempts failed for infrastructure reasons (node checks 5) in the last 60 min: above 50%',
        },
      },
      {
        why: 'too few outcomes are not judged',
        input: { site: site(), outcomes: outcomes(1, { stageIn: 4 }) },
        expected: { action: 'none' },
      },
      {
        why: 'exactly the fraction is not above it',
        input: { site: site(), outcomes: outcomes(1, { stageIn: 3, workdir: 0, finished: 3 }) },
        expected: { action: 'none' },
      },
      {
        why: 'user failures are not the site’s',
        input: { site: site(), outcomes: outcomes(1, { userFailed: 20, stageIn: 1 }) },
        expected: { action: 'none' },
      },
      {
        why: 'outcomes older than the window are not judged',
        input: { site: site(), outcomes: outcomes(70, { stageIn: 10 }) },
        expected: { action: 'none' },
      },
      {
        why: 'the site’s own fraction and minimum win over the defaults',
        input: {
          site: site({ health: { auto: true, maxInfraFailureFraction: 0.2, minAttempts: 2 } }),
          outcomes: outcomes(1, { claimAbandoned: 1, finished: 2 }),
        },
        expected: {
          action: 'exclude',
          reason:
            '1 of 3 recent attempts failed for infrastructure reasons (claim abandoned 1) in the last 60 min: above 20%',
        },
      },
      {
        why: 'a site with auto off is left to operators',
        input: { site: site({ health: { auto: false } }), outcomes: outcomes(1, { stageIn: 50 }) },
        expected: { action: 'none' },
      },
      {
        why: 'an operator’s offline is never changed',
        input: { site: site({ status: 'offline' }), outcomes: outcomes(1, { stageIn: 50 }) },
        expected: { action: 'none' },
      },
      {
        why: 'an operator’s test is never changed',
        input: {
          site: site(
            {},
            {
              status: 'test',
              statusChange: {
                at: DEFAULT_START,
                from: 'online',
                to: 'test',
                reason: 'upgrade',
                by: 'operator:ops',
              },
              testTask: SENT,
            },
          ),
          testTask: { state: 'done', finished: 2, jobCount: 2 },
        },
        expected: { action: 'none' },
      },
      {
        why: 'a site put in test without a test task gets one',
        input: { site: inTest() },
        expected: { action: 'send-test', failures: 0 },
      },
      {
        why: 'a test task running is waited for',
        input: { site: inTest(SENT), testTask: { state: 'running', finished: 1, jobCount: 2 } },
        expected: { action: 'none' },
      },
      {
        why: 'a test task done brings the site back online',
        input: { site: inTest(SENT), testTask: { state: 'done', finished: 2, jobCount: 2 } },
        expected: { action: 'restore', reason: 'test task t-000009 done: 2 of 2 test jobs finished' },
      },
      {
        why: 'a test task that failed leaves the site in test, recorded at its end',
        input: {
          site: inTest(SENT),
          testTask: { state: 'failed', endedAt: '2026-01-01T11:58:00.000Z', finished: 0, jobCount: 2 },
        },
        expected: { action: 'test-failed', at: '2026-01-01T11:58:00.000Z' },
      },
      {
        why: 'a test task partly done failed too',
        input: {
          site: inTest(SENT),
          testTask: { state: 'partial', endedAt: '2026-01-01T11:58:00.000Z', finished: 1, jobCount: 2 },
        },
        expected: { action: 'test-failed', at: '2026-01-01T11:58:00.000Z' },
      },
      {
        why: 'a test task not found failed',
        input: { site: inTest(SENT), testTask: 'missing' },
        expected: { action: 'test-failed', at: NOW.toISOString() },
      },
      {
        why: 'a test task running longer than its timeout is cancelled',
        input: {
          site: inTest(SENT, { test: { timeoutSec: 300 } }),
          testTask: { state: 'running', finished: 0, jobCount: 2 },
        },
        expected: { action: 'cancel-test', taskId: 't-000009' },
      },
      {
        why: 'after a failed test, the next waits for its back-off (2 failures: 2 × 300 s)',
        input: { site: inTest(FAILED) },
        expected: { action: 'none' },
      },
      {
        why: 'after a failed test and its back-off, the next test is sent, counting the failures',
        input: { site: inTest(FAILED, { test: { backoffSec: 60 } }) },
        expected: { action: 'send-test', failures: 2 },
      },
    ];

  it.each(cases)('$why', ({ input, expected }) => {
    expect(evaluateSiteHealth({ ...input, now: NOW, defaults: HEALTH_DEFAULTS })).toEqual(expected);
  });

  it.each([
    [1, 300],
    [2, 600],
    [3, 1200],
    [4, 2400],
    [9, 2400],
  ])('waits after %i failed test tasks in a row %i s (doubling, at most ×8)', (failures, seconds) => {
    expect(testBackoffSec(site({ test: {} }), failures)).toBe(seconds);
  });
});

describe('siteTestSpec', () => {
  it('is a test task for the site alone: default payload, 2 jobs, one attempt, small enough for a slot', () => {
    const spec = siteTestSpec(site({ slot: { memoryMB: 128 } }));
    expect(spec).toMatchObject({
      name: 'site-test-cern',
      payload: { command: 'sh', args: ['-c', 'test -w "$GLUON_WORK_DIR"'] },
      events: 2,
      split: { eventsPerJob: 1 },
      resources: { cores: 1, memoryMB: 128, walltimeSec: 600, diskMB: 1000 },
      maxAttempts: 1,
      sites: { allow: ['cern'], deny: [] },
      siteTest: true,
    });
  });

  it('gives each job the test’s inputs to stage in', () => {
    const inputs = [{ name: 'inputs/probe.txt', adler32: '0a0b0c0d' }];
    const spec = siteTestSpec(site({ test: { jobs: 3, inputs } }));
    expect(spec.inputs?.files).toEqual([inputs[0], inputs[0], inputs[0]]);
    expect(spec.split).toEqual({ filesPerJob: 1 });
  });
});

// ---- site health over the in-memory ports -----------------------------------------------------------

/** A site defined by an operator, and a pilot there. */
async function setup(input: Partial<SiteInput> = {}): Promise<{ deps: InMemoryDeps; pilotId: string }> {
  const deps = inMemoryDeps({ start: NOW });
  await putSite(deps, 'cern', SiteSchema.parse({ siteId: 'cern', slot: BIG_SLOT, ...input }), 'operator:ops');
  return { deps, pilotId: await addPilot(deps) };
}

/** Runs a task of `codes.length` jobs at the site, each job's one attempt ending with its code. */
async function runJobs(
  deps: InMemoryDeps,
  pilotId: string,
  codes: PilotErrorCode[],
  taskId?: string,
): Promise<string> {
  const id = taskId ?? (await runningTask(deps, generationSpec(codes.length, { maxAttempts: 1 })));
  for (const [jobIndex, code] of codes.entries()) {
    await claimed(deps, pilotId, jobRef(id, jobIndex));
    await complete(deps, pilotId, report(jobRef(id, jobIndex), code));
  }
  await settleJobChanges(deps);
  return id;
}

const STAGE_IN = PILOT_ERROR_CODES.STAGE_IN_FAILED;
const OK = PILOT_ERROR_CODES.OK;

describe('checkSiteHealth', () => {
  it('moves a site failing its stage-ins to test with the reason, and sends it a test task there', async () => {
    const { deps, pilotId } = await setup();
    await runJobs(deps, pilotId, [STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, OK]);

    const report = await checkSiteHealth(deps);
    expect(report).toMatchObject({ sitesChecked: 1, sitesExcluded: 1, testsSent: 1, errors: [] });
    const moved = await deps.sites.get('cern');
    expect(moved).toMatchObject({
      status: 'test',
      statusChange: {
        from: 'online',
        to: 'test',
        by: 'site-health',
        reason: expect.stringContaining(
          '5 of 6 recent attempts failed for infrastructure reasons (stage-in 5)',
        ),
      },
      testTask: { sentAt: NOW.toISOString(), failures: 0 },
    });
    const test = await taskOf(deps, moved?.testTask?.taskId ?? '');
    expect(test).toMatchObject({
      owner: SITE_HEALTH_OWNER,
      spec: { siteTest: true, sites: { allow: ['cern'] } },
    });
    expect(deps.workflow.started).toContain(test.taskId);
    expect((await deps.sites.history('cern')).map((c) => [c.to, c.by])).toEqual([
      ['online', 'operator:ops'],
      ['test', 'site-health'],
    ]);

    // Nothing more while the test task runs.
    expect(await checkSiteHealth(deps)).toMatchObject({ sitesExcluded: 0, testsSent: 0 });
  });

  it('brings the site back online when its test task is done, and counts its outcomes again from then', async () => {
    const { deps, pilotId } = await setup();
    await runJobs(deps, pilotId, [STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN]);
    await checkSiteHealth(deps);
    const testTaskId = (await deps.sites.get('cern'))?.testTask?.taskId ?? '';
    const workflow = new Workflow(deps, testTaskId);
    await workflow.startUntilWait();
    await runJobs(deps, pilotId, [OK, OK], testTaskId);
    expect(await workflow.afterRelease()).toBe('done');

    deps.clock.advance(MIN);
    expect(await checkSiteHealth(deps)).toMatchObject({ sitesRestored: 1 });
    const site = await deps.sites.get('cern');
    expect(site).toMatchObject({
      status: 'online',
      statusChange: {
        from: 'test',
        to: 'online',
        by: 'site-health',
        reason: `test task ${testTaskId} done: 2 of 2 test jobs finished`,
      },
    });
    expect(site?.testTask).toBeUndefined();
    // The stage-in failures before are not held against it again.
    expect(await checkSiteHealth(deps)).toMatchObject({ sitesExcluded: 0 });
    expect((await deps.sites.get('cern'))?.status).toBe('online');
  });

  it('keeps a site in test when its test task fails, and sends the next one after the back-off', async () => {
    const { deps, pilotId } = await setup({ test: { backoffSec: 120 } });
    await runJobs(deps, pilotId, [STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN]);
    await checkSiteHealth(deps);
    const first = (await deps.sites.get('cern'))?.testTask?.taskId ?? '';
    const workflow = new Workflow(deps, first);
    await workflow.startUntilWait();
    // A test job's failed stage-in fails it (for other jobs it would be retried without spending an attempt).
    await runJobs(deps, pilotId, [STAGE_IN, OK], first);
    expect(await workflow.afterRelease()).toBe('partial');

    expect(await checkSiteHealth(deps)).toMatchObject({ testsFailed: 1, sitesRestored: 0, testsSent: 0 });
    expect(await deps.sites.get('cern')).toMatchObject({
      status: 'test',
      testTask: { taskId: first, failures: 1, failedAt: NOW.toISOString() },
    });
    deps.clock.advance(119_000);
    expect(await checkSiteHealth(deps)).toMatchObject({ testsSent: 0, testsFailed: 0 });
    deps.clock.advance(1000);
    expect(await checkSiteHealth(deps)).toMatchObject({ testsSent: 1 });
    const next = (await deps.sites.get('cern'))?.testTask;
    expect(next).toMatchObject({ failures: 1 });
    expect(next?.taskId).not.toBe(first);
    expect(next?.failedAt).toBeUndefined();
  });

  it('cancels a test task that runs past its timeout', async () => {
    const { deps, pilotId } = await setup({ test: { timeoutSec: 600 } });
    await runJobs(deps, pilotId, [STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN]);
    await checkSiteHealth(deps);
    const taskId = (await deps.sites.get('cern'))?.testTask?.taskId ?? '';
    await new Workflow(deps, taskId).startUntilWait();
    deps.clock.advance(601_000);
    await checkSiteHealth(deps);
    expect((await taskOf(deps, taskId)).cancelRequested).toBe(true);
  });

  it('leaves an operator’s offline site alone, whatever its failures', async () => {
    const { deps, pilotId } = await setup();
    await runJobs(deps, pilotId, [STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN]);
    await putSite(
      deps,
      'cern',
      SiteSchema.parse({ siteId: 'cern', slot: BIG_SLOT, status: 'offline' }),
      'operator:ops',
    );
    expect(await checkSiteHealth(deps)).toMatchObject({ sitesChecked: 0, sitesExcluded: 0 });
    expect((await deps.sites.get('cern'))?.status).toBe('offline');
  });

  it('does nothing when an operator changed the site after it was read: the write is fenced', async () => {
    const { deps, pilotId } = await setup();
    await runJobs(deps, pilotId, [STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN, STAGE_IN]);
    const outcomesOf = deps.sites.outcomes.bind(deps.sites);
    deps.sites.outcomes = async (siteId) => {
      const read = await outcomesOf(siteId);
      await putSite(
        deps,
        'cern',
        { ...SiteSchema.parse({ siteId: 'cern', slot: BIG_SLOT }), status: 'offline' },
        'operator:ops',
      );
      return read;
    };
    expect(await checkSiteHealth(deps)).toMatchObject({ sitesExcluded: 0, testsSent: 0 });
    expect((await deps.sites.get('cern'))?.status).toBe('offline');
    expect(deps.workflow.started).toHaveLength(1);
  });

  it('counts pilots failing their node checks against their site', async () => {
    const { deps } = await setup();
    for (let i = 0; i < 5; i++) {
      await registerPilot(deps, pilotToken('cern'), {
        siteId: 'cern',
        host: `wn${i}`,
        pid: 1,
        version: '1.0.0',
        resources: { cores: 1, memoryMB: 2000, diskMB: 1000, walltimeLeftSec: 3600 },
        health: [{ name: 'cvmfs', ok: false, message: '/cvmfs/atlas.cern.ch missing' }],
      });
    }
    expect(await checkSiteHealth(deps)).toMatchObject({ sitesExcluded: 1 });
    expect((await deps.sites.get('cern'))?.statusChange?.reason).toContain('(node checks 5)');
  });
});
