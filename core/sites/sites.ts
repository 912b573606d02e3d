import type { Page } from '../api/common.ts';
import type { PutSiteBody, SiteDetail, SiteProvisioning, SiteView } from '../api/sites.ts';
import type { Deps } from '../deps.ts';
import { ConflictError, fieldIssues, NotFoundError, ValidationError } from '../errors.ts';
import { cloudSiteIssues } from '../provisioning/cloud-site-issues.ts';
import { TaskSpecSchema } from '../tasks/task-spec.ts';
import { type Site, type SiteRecord, type StatusChange, statusExpectation } from './site.ts';
import { HEALTH_DEFAULTS, siteTestSpecInput, testBackoffSec } from './site-health.ts';
import { bucketOf, infraFailures, outcomesFrom, totalOutcomes } from './site-outcomes.ts';

export function siteView(site: SiteRecord, queueUrl?: string): SiteView {
  const { census, statusChange, statusVersion: _version, testTask, ...definition } = site;
  return {
    ...definition,
    ...(queueUrl === undefined ? {} : { queueUrl }),
    ...(census === undefined ? {} : { pilots: census.pilots, censusAt: census.at }),
    ...(statusChange === undefined ? {} : { statusChange }),
    ...(testTask === undefined
      ? {}
      : {
          testTask: {
            ...testTask,
            ...(testTask.failedAt === undefined
              ? {}
              : {
                  nextAt: new Date(
                    Date.parse(testTask.failedAt) + testBackoffSec(site, testTask.failures) * 1000,
                  ).toISOString(),
                }),
          },
        }),
  };
}

/** Status changes made through the API are an operator's: `operator:<subject of the token>`. */
export function operatorOf(sub: string): string {
  return `operator:${sub}`;
}

/** Tries of a definition whose site changed status meanwhile (site health moved it): then it is read again. */
const PUT_TRIES = 3;

/**
 * Defines or updates a site (the information system): its status, slot resources, pilot cap, and
 * the health settings and test task of site health. The site's job queue and DLQ are created
 * first, so a site is never listed without its queue. A status left out keeps the site's (a new
 * site is online); a status that changes is recorded in the site's history with `reason`, as the
 * operator's (`by`), and wins over site health: the write is fenced on the status the operator's
 * call saw, and read again if site health moved it meanwhile. Setting a site offline stops
 * brokerage to it and pilot factories from submitting pilots. A cloud site's provisioning is
 * checked against its slots (cloudSiteIssues) before anything is created.
 */
export async function putSite(
  deps: Pick<Deps, 'sites' | 'queue' | 'clock'>,
  siteId: string,
  body: PutSiteBody,
  by = 'operator',
): Promise<SiteView> {
  const { reason, status, siteId: named, ...definition } = body;
  if (named !== undefined && named !== siteId) {
    throw new ValidationError('invalid site', [
      { field: 'siteId', message: `must be ${siteId} (the path) or left out` },
    ]);
  }
  checkCloudSite(definition);
  checkSiteTest({ ...definition, siteId, status: status ?? 'online' });
  const { queueUrl } = await deps.queue.ensureSiteQueue(siteId);
  for (let tries = 1; ; tries++) {
    const current = await deps.sites.get(siteId);
    const site: Site = { ...definition, siteId, status: status ?? current?.status ?? 'online' };
    const change: StatusChange | undefined =
      current?.status === site.status
        ? undefined
        : {
            at: deps.clock.now().toISOString(),
            ...(current === undefined ? {} : { from: current.status }),
            to: site.status,
            reason: reason ?? (current === undefined ? 'site defined' : `set ${site.status}`),
            by,
          };
    const written = await deps.sites.put(site, {
      expected: statusExpectation(current),
      ...(change === undefined ? {} : { change }),
    });
    if (written === 'ok') {
      const stored = (await deps.sites.get(siteId)) ?? site;
      return siteView(stored, queueUrl);
    }
    if (tries >= PUT_TRIES)
      throw new ConflictError(`site ${siteId} changed while it was being defined; try again`);
  }
}

/** A cloud site's provisioning must suit its kind and slots (instance types, weights): 400 naming the field. */
function checkCloudSite(site: Pick<Site, 'kind' | 'slot' | 'provisioning'>): void {
  const issues = cloudSiteIssues(site);
  if (issues.length > 0) throw new ValidationError('invalid site', issues);
}

/**
 * A site's test task must be one the API would take: its spec is built and checked at definition
 * time, so a bad test (a payload placeholder unknown, …) is refused naming the `test` field.
 */
function checkSiteTest(site: Site): void {
  if (site.test === undefined) return;
  const result = TaskSpecSchema.safeParse(siteTestSpecInput(site));
  if (result.success) return;
  throw new ValidationError(
    'invalid site',
    fieldIssues(result.error.issues).map((issue) => ({
      field: issue.field.startsWith('payload') ? `test.${issue.field}` : 'test',
      message: issue.message,
    })),
  );
}

export async function listSites(deps: Pick<Deps, 'sites'>): Promise<Page<SiteView>> {
  const sites = (await deps.sites.list()).sort((a, b) => a.siteId.localeCompare(b.siteId));
  return { items: sites.map((site) => siteView(site)) };
}

/**
 * One site for operators and users: its view, its outcomes counted since its last status change
 * in site health's window, the state of its test task, and its status history.
 */
export async function getSite(
  deps: Pick<Deps, 'sites' | 'tasks' | 'clock'>,
  siteId: string,
): Promise<SiteDetail> {
  const site = await deps.sites.get(siteId);
  if (site === undefined) throw new NotFoundError(`site ${siteId} does not exist`);
  const [outcomes, history, testTask] = await Promise.all([
    deps.sites.outcomes(siteId),
    deps.sites.history(siteId),
    site.testTask === undefined ? undefined : deps.tasks.getHead(site.testTask.taskId),
  ]);
  const from = bucketOf(new Date(deps.clock.now().getTime() - HEALTH_DEFAULTS.windowSec * 1000));
  const counts = outcomesFrom(outcomes, from);
  const view = siteView(site);
  return {
    ...view,
    ...(view.testTask === undefined || testTask === undefined
      ? {}
      : { testTask: { ...view.testTask, state: testTask.state } }),
    outcomes: {
      from: outcomes.since !== undefined && outcomes.since > from ? outcomes.since : from,
      counts,
      attempts: totalOutcomes(counts),
      infraFailures: infraFailures(counts),
    },
    history,
  };
}

/** A site's provisioning decisions: the last (on the site record) and the noteworthy ones. */
export async function getSiteProvisioning(
  deps: Pick<Deps, 'sites'>,
  siteId: string,
): Promise<SiteProvisioning> {
  const [site, history] = await Promise.all([deps.sites.get(siteId), deps.sites.provisioningHistory(siteId)]);
  if (site === undefined) throw new NotFoundError(`site ${siteId} does not exist`);
  return {
    siteId,
    ...(site.provisioning === undefined ? {} : { provisioning: site.provisioning }),
    ...(site.provisioned === undefined ? {} : { last: site.provisioned }),
    history,
  };
}
