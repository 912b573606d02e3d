import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type { SiteDetail, SiteProvisioning } from '#core/api/sites.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import type { HealthReport } from '#core/sites/site-health.ts';
import { createHandler as getSiteHandler } from '#lambdas/sites/get-site/handler.ts';
import { createHandler as siteHealthHandler } from '#lambdas/sites/site-health/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invoke,
  invokeHttp,
  issueFields,
  TEST_SITE,
} from '#test/support/handler-harness.ts';
import {
  type ErrorReply,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  runAttempt,
  runningTask,
} from '../task-flow.ts';

/** What EventBridge Scheduler hands the function (the input is not used). */
const SCHEDULED = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.scheduler', detail: {} };

let h: HandlerHarness;

beforeEach(async () => {
  h = await createHandlerHarness();
});

afterEach(async () => {
  await h?.close();
});

/** The handler's answer: the run's report, with its errors counted. */
type HealthAnswer = Omit<HealthReport, 'errors'> & { errors: number };

function checkHealth(): Promise<HealthAnswer> {
  return invoke(siteHealthHandler(h.deps), SCHEDULED, 'site-health') as Promise<HealthAnswer>;
}

function getSite(siteId: string) {
  return invokeHttp<SiteDetail & ErrorReply>(
    getSiteHandler(h.deps),
    httpEvent({ method: 'GET', path: '/sites/{siteId}', pathParameters: { siteId }, scopes: [SCOPES.read] }),
  );
}

/** A task of `jobs` jobs at the test site whose every attempt fails its stage-in, counted by the change feed. */
async function failStageIns(jobs: number): Promise<void> {
  const pilotId = await registerPilot(h);
  const { messages } = await runningTask(h, generationSpec(jobs, { maxAttempts: 1 }));
  for (let i = 0; i < jobs; i++) {
    await runAttempt(h, pilotId, refOf(nth(messages, i)), {
      pilotErrorCode: PILOT_ERROR_CODES.STAGE_IN_FAILED,
      errorMessage: 'checksum mismatch for inputs/a.root',
    });
  }
  await h.settleJobChanges();
}

describe('site-health handler', () => {
  it('moves a site whose stage-ins fail to test, sends it a test task, and records both on the site', async () => {
    await failStageIns(5);
    const report = await checkHealth();
    expect(report).toMatchObject({ sitesExcluded: 1, testsSent: 1, errors: 0 });

    const reply = await getSite(TEST_SITE);
    expect(reply.statusCode).toBe(200);
    const site = reply.body;
    expect(site).toMatchObject({
      status: 'test',
      statusChange: { from: 'online', to: 'test', by: 'site-health' },
      testTask: { failures: 0, state: 'submitted' },
      // Outcomes start again at the change.
      outcomes: { attempts: 0, infraFailures: 0 },
    });
    expect(site.statusChange?.reason).toMatch(
      /^5 of 5 recent attempts failed for infrastructure reasons \(stage-in 5\)/,
    );
    expect(site.history.map((c) => [c.from, c.to, c.by])).toEqual([['online', 'test', 'site-health']]);
    const testTaskId = site.testTask?.taskId ?? '';
    expect(h.workflow.started).toContain(testTaskId);
    expect(await h.deps.tasks.get(testTaskId)).toMatchObject({
      owner: 'system:site-health',
      spec: { siteTest: true, sites: { allow: [TEST_SITE] }, maxAttempts: 1 },
    });

    expect(await checkHealth()).toMatchObject({ sitesExcluded: 0, testsSent: 0 });
  });

  it('leaves a site with too few outcomes online', async () => {
    await failStageIns(4);
    expect(await checkHealth()).toMatchObject({ sitesChecked: 1, sitesExcluded: 0 });
    const site = (await getSite(TEST_SITE)).body;
    expect(site).toMatchObject({ status: 'online', outcomes: { attempts: 4, infraFailures: 4 } });
    expect(site.outcomes.counts.stageIn).toBe(4);
  });
});

describe('get-site handler', () => {
  it('answers 404 for an unknown site and 400 naming a bad site id', async () => {
    expect((await getSite('nowhere')).statusCode).toBe(404);
    const bad = await getSite('Not_A_Site');
    expect(bad.statusCode).toBe(400);
    expect(issueFields(bad.body)).toEqual(['path.siteId']);
  });
});

describe('GET /sites/{siteId}/provisioning (get-site)', () => {
  function getProvisioning(siteId: string) {
    return invokeHttp<SiteProvisioning & ErrorReply>(
      getSiteHandler(h.deps),
      httpEvent({
        method: 'GET',
        path: '/sites/{siteId}/provisioning',
        pathParameters: { siteId },
        scopes: [SCOPES.read],
      }),
    );
  }

  it("answers a site's last provisioning decision and its history from the sites table; 404 for an unknown site", async () => {
    const asked: ProvisioningDecision = {
      siteId: TEST_SITE,
      at: '2026-12-02T14:00:00.000Z',
      type: 'batch',
      queuedJobs: 4,
      pilotsWanted: 4,
      pending: 0,
      running: 0,
      slots: 0,
      hourlyUsd: 0,
      requested: [{ market: 'on-demand', count: 4, slots: 4, hourlyUsd: 0.2 }],
      started: 4,
      limitedBy: 'none',
      prices: { 'pilot/on-demand': { hourlyUsd: 0.05, source: 'site', asOf: '2026-12-02T14:00:00.000Z' } },
      errors: [],
      summary:
        'Submitted 4 of 4 pilots in 1 array job (4 jobs queued, 4 pilots wanted; had 0 pilot jobs ($0/h)).',
    };
    const quiet = {
      ...asked,
      at: '2026-12-02T14:01:00.000Z',
      requested: [],
      started: 0,
      limitedBy: 'no-demand' as const,
      summary: 'Nothing asked.',
    };
    await h.deps.sites.recordProvisioning(TEST_SITE, asked);
    await h.deps.sites.recordProvisioning(TEST_SITE, quiet);
    const reply = await getProvisioning(TEST_SITE);
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({ siteId: TEST_SITE, last: quiet, history: [asked, quiet] });
    expect((await getSite(TEST_SITE)).body.provisioned).toEqual(quiet);
    expect((await getProvisioning('nowhere')).statusCode).toBe(404);
  });
});
