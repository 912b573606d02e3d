/**
 * `gluon why TASK --job N`: where one job was sent and why, what its attempts did, and for a
 * queued job why no pilot has taken it yet — as findings with stable codes, from a list of
 * sources. A further source (e.g. fair share: "the user's share or cap is reached") is one more
 * function appended to JOB_FINDING_SOURCES.
 */
import type { SharesView } from '../api/policies.ts';
import type { AttemptView, JobExplanation, JobFinding, JobView } from '../api/tasks.ts';
import { closeness, describeCloseness } from '../catalog/task-inputs.ts';
import type { Deps, Principal } from '../deps.ts';
import { NotFoundError } from '../errors.ts';
import { jobIdOf } from '../jobs/job.ts';
import { jobWithAttempts } from '../jobs/list-jobs.ts';
import { type ResourceClass, resourceClassOf } from '../jobs/resource-class.ts';
import { PILOT_ERROR_DESCRIPTIONS } from '../pilots/pilot-error-codes.ts';
import type { BrokerageDecision, ChosenSite } from '../policies/brokerage-decision.ts';
import { heldAtCaps } from '../policies/dispatch-jobs.ts';
import { groupPath, type Held, usageKeysOf } from '../policies/fair-share.ts';
import { effectiveResources } from '../policies/retry-policy.ts';
import { usageKey } from '../policies/shares.ts';
import { getShares } from '../policies/shares-admin.ts';
import { firstRejection, HARD_FILTERS } from '../policies/site-filters.ts';
import { type BudgetStanding, describeBudget } from '../policies/task-budget.ts';
import { isPaidSite } from '../provisioning/cloud-site.ts';
import { emptyCensus, type SiteRecord } from '../sites/site.ts';
import { percent, taskBudget } from './explain-task.ts';
import { jobAt, jobCount, jobResources } from './split-task.ts';
import type { Task } from './task.ts';
import { ownedTask } from './task-access.ts';
import { waitingAtSite } from './waiting-at-site.ts';

/** What every finding source gets: the job as `gluon job` shows it, its task, and brokerage's record. */
export interface JobContext {
  task: Task;
  job: JobView & { attempts: AttemptView[] };
  decision: BrokerageDecision | undefined;
  /** The site record, when the site is still defined. */
  site(siteId: string): SiteRecord | undefined;
  /** Job messages waiting in a site's queue. */
  /** Jobs in the site's queues of these classes (default: all). */
  queuedJobs(siteId: string, classes?: readonly ResourceClass[]): Promise<number>;
  /** The share tree, usage and who is held at a cap (from the last dispatch round). */
  shares?: SharesView & { held: Held[] };
  /** A budgeted task's standing against its budget. */
  budget?: BudgetStanding;
}

export type JobFindingSource = (ctx: JobContext) => JobFinding[] | Promise<JobFinding[]>;

/** Where the job is and where it was sent. */
export function placementFindings({ task, job, decision }: JobContext): JobFinding[] {
  const n = job.jobIndex;
  const where =
    job.state === 'running'
      ? ` at ${job.siteId} on pilot ${job.pilotId}${job.host === undefined ? '' : ` (${job.host})`} since ${job.startedAt}`
      : '';
  const state: JobFinding = {
    code: 'state',
    message: `Job ${n} is ${job.state}${job.attempt > 1 ? ` (attempt ${job.attempt})` : ''}${where}.`,
  };
  if (task.siteIds.length === 0) {
    if (decision !== undefined && decision.chosen.length === 0)
      return [state, { code: 'no-site', message: noSiteMessage(n, decision) }];
    return [state, { code: 'not-brokered', message: `The task is ${task.state}: no site is chosen yet.` }];
  }
  if (job.state === 'defined') {
    const sites = task.siteIds.join(', ');
    return [
      state,
      {
        code: 'not-sent',
        message: `Job ${n} waits for dispatch (${task.jobsEnqueued} of ${task.jobCount} jobs of the task released so far): dispatch releases jobs to the queues of the task's sites (${sites}) as they have room, in fair-share order.`,
      },
    ];
  }
  const siteId = job.siteId ?? (task.siteIds.length === 1 ? task.siteIds[0] : undefined);
  if (siteId === undefined) {
    return [
      state,
      {
        code: 'sent-to',
        message: `Job ${n} was released to the queue of one of the task's sites (${task.siteIds.join(', ')}), the first with room; which one is known when a pilot claims it.`,
      },
    ];
  }
  const why = whySent(
    task,
    siteId,
    decision?.chosen.find((c) => c.siteId === siteId),
  );
  return [state, { code: 'sent-to', siteId, message: `Job ${n} was sent to site ${siteId}: ${why}.` }];
}

/**
 * For a job waiting for dispatch: where its owner stands in fair share (the lowest usage for its share goes
 * next), and a cap that holds the owner or a group above them.
 */
export function fairShareFindings({ task, job, shares }: JobContext): JobFinding[] {
  // Once released to a site queue, the job's turn no longer depends on fair share; without a site it has no turn.
  if (shares === undefined || job.state !== 'defined' || task.siteIds.length === 0) return [];
  const { tree } = shares;
  const usageOf = (key: string) => {
    const [kind, ...rest] = key.split('#');
    return shares.usage.find((u) => u.kind === kind && u.name === rest.join('#'))?.usage ?? 0;
  };
  const path = groupPath(tree, task.owner);
  const userShare = tree.users.find((u) => u.user === task.owner);
  const groups = path.map((g) => {
    const group = tree.groups.find((x) => x.name === g);
    return `${g} (${group?.share ?? 0} % of ${group?.parent ?? 'the top'}, usage ${usageOf(usageKey.group(g)).toFixed(1)})`;
  });
  const findings: JobFinding[] = [
    {
      code: 'fair-share',
      message: `Fair share: ${task.owner} (usage ${usageOf(usageKey.user(task.owner)).toFixed(1)} cores, decayed over ${tree.halfLifeSec} s; ${userShare?.share === undefined ? 'an equal share' : `${userShare.share} %`} of ${path.at(-1) ?? tree.defaultGroup}) is in ${groups.join(' → ')}. At each level the one with the lowest usage for its share gets the next place; the owner's tasks go by priority (this one ${task.priority ?? task.spec.priority}).`,
    },
  ];
  for (const key of usageKeysOf(tree, task.owner)) {
    const held = shares.held.find((h) => h.key === key);
    if (held !== undefined)
      findings.push({
        code: 'cap-reached',
        message: `The ${key.startsWith('user#') ? 'user' : 'group'} ${key.slice(key.indexOf('#') + 1)} is at its cap of ${held.cap} jobs queued or running: dispatch releases no more of its jobs until some end.`,
      });
  }
  return findings;
}

/** Why a job went to its site: the site's weight and what it was computed from. */
function whySent(task: Task, siteId: string, chosen: ChosenSite | undefined): string {
  if (chosen === undefined)
    return `dispatch released it to the first of the task's ${task.siteIds.length} sites (${task.siteIds.join(', ')}) whose queue had room`;
  const i = chosen.inputs;
  const facts = [
    `${i.freePilots} of ${i.maxPilots} pilots free`,
    `${i.queuedJobs} jobs queued there`,
    ...(i.throughputPerMin === undefined ? [] : [`${i.throughputPerMin} jobs finished a minute`]),
  ];
  return `brokerage chose ${siteId} with weight ${percent(chosen.weight)} (${facts.join(', ')}), and dispatch released the job to its queue when it had room`;
}

function noSiteMessage(n: number, decision: BrokerageDecision): string {
  if (decision.rejected.length === 0) return `No site can take job ${n}: no site is defined.`;
  const reasons = decision.rejected.map((r) => `${r.siteId}: ${r.reason}`).join('; ');
  const more = decision.rejectedOmitted === undefined ? '' : `; and ${decision.rejectedOmitted} more`;
  return `No site can take job ${n} (brokerage at ${decision.at}): ${reasons}${more}.`;
}

/** One finding per attempt: where it ran, how it ended; the current one where it waits or runs. */
export function attemptFindings({ job }: JobContext): JobFinding[] {
  const findings: JobFinding[] = job.attempts.map((a) => ({
    code: 'attempt',
    siteId: a.siteId,
    message: `Attempt ${a.attempt} ran at ${a.siteId} on pilot ${a.pilotId}${a.host === undefined ? '' : ` (${a.host})`}: ${attemptEnd(a)}.`,
  }));
  // A retry waiting in its queue, with the resources it was raised to.
  if (job.state === 'queued' && job.attempt > 1 && job.siteId !== undefined) {
    const raised = [
      job.resources?.memoryMB === undefined ? undefined : `memory ${job.resources.memoryMB} MB`,
      job.resources?.walltimeSec === undefined ? undefined : `walltime ${job.resources.walltimeSec} s`,
    ].filter((x) => x !== undefined);
    findings.push({
      code: 'attempt',
      siteId: job.siteId,
      message: `Attempt ${job.attempt} is queued at ${job.siteId}${raised.length === 0 ? '' : `, with ${raised.join(' and ')}`}.`,
    });
  }
  return findings;
}

function attemptEnd(a: AttemptView): string {
  if (a.state === 'finished') return 'finished';
  const code =
    a.pilotErrorCode === 0 ? '' : `, ${a.pilotErrorCode} (${PILOT_ERROR_DESCRIPTIONS[a.pilotErrorCode]})`;
  const exit = a.exitCode === undefined ? '' : `, exit code ${a.exitCode}`;
  return `${a.state}${code}${exit}`;
}

/** The hard filters but the user's lists (which sent the job there): what can change at a site for it. */
const SITE_NOW_LINKS = HARD_FILTERS.filter((link) => link.name !== 'lists');

/** For a queued job: the task paused, or why the pilots of its site do not take it. */
export async function pendingFindings(ctx: JobContext): Promise<JobFinding[]> {
  const { task, job } = ctx;
  // (A queued job of a cancelled task is shown cancelled: it will not start.)
  if (job.state !== 'queued') return [];
  const findings: JobFinding[] = [];
  if (task.paused === true)
    findings.push({
      code: 'task-paused',
      message: 'The task is paused by its owner: no job of it starts until it is resumed (gluon resume).',
    });
  // A job released to a task of several sites has no known site until its claim: it waits in one
  // of their queues, so say what holds each of them.
  const siteIds = job.siteId !== undefined ? [job.siteId] : task.siteIds;
  for (const siteId of siteIds) {
    const site = ctx.site(siteId);
    if (site === undefined) {
      findings.push({ code: 'site-unknown', siteId, message: `Site ${siteId} is no longer defined.` });
      continue;
    }
    // The job's own resources (a retry may have raised them) against the site as it is now.
    const spec = {
      ...task.spec,
      resources: effectiveResources(jobResources(task.spec, task.sizing, job.jobIndex), job),
    };
    const failing = firstRejection(spec, { site }, undefined, SITE_NOW_LINKS);
    const resourceClass = resourceClassOf(spec.resources);
    findings.push(
      waitingAtSite(
        {
          site,
          pilots: site.census?.pilots ?? emptyCensus(),
          queuedJobs: await ctx.queuedJobs(siteId, [resourceClass]),
          resourceClass,
          ...(failing === undefined ? {} : { failing }),
        },
        'job',
      ),
    );
  }
  return findings;
}

/**
 * A dataset task's job: how many of its own input files are close to each of the task's sites
 * (or to the site it ran at), and at which endpoints — what data-aware brokerage weighed.
 */
export function dataFindings({ task, job }: JobContext): JobFinding[] {
  const resolved = task.spec.inputs?.resolved;
  const dataset = task.spec.inputs?.dataset;
  if (resolved === undefined || dataset === undefined || job.jobIndex >= jobCount(task.spec, task.sizing))
    return [];
  const inputs = (jobAt(task.spec, job.jobIndex, task.sizing).inputs ?? []).map((i) => ({
    bytes: i.bytes ?? 0,
    replicas: i.replicas ?? [],
  }));
  const remoteRead = task.spec.inputs?.remoteRead === true;
  const siteIds = job.siteId !== undefined ? [job.siteId] : task.siteIds;
  const lines = siteIds.map((siteId) =>
    describeCloseness(siteId, closeness(inputs, resolved.endpoints, siteId), remoteRead),
  );
  if (lines.length === 0) return [];
  return [
    {
      code: 'data',
      message: `Job ${job.jobIndex} reads ${inputs.length} files of ${dataset}: ${lines.join('; ')}.`,
    },
  ];
}

/**
 * For a job not started yet of a budgeted task: what the task spent, and, once over budget, that
 * dispatch gives it no paid site (a job already in a paid site's queue may still run there).
 */
export function budgetFindings({ task, job, budget, site }: JobContext): JobFinding[] {
  if (budget === undefined || (job.state !== 'defined' && job.state !== 'queued')) return [];
  const paid = task.siteIds.filter((id) => {
    const record = site(id);
    return record !== undefined && isPaidSite(record);
  });
  const queuedAtPaid =
    budget.overBudget && job.state === 'queued' && job.siteId !== undefined && paid.includes(job.siteId);
  return [
    {
      code: budget.overBudget ? 'over-budget' : 'budget',
      message: `${describeBudget(budget, paid)}${queuedAtPaid ? ` Job ${job.jobIndex} was sent to ${job.siteId} before: it may still run there.` : ''}`,
    },
  ];
}

export const JOB_FINDING_SOURCES: readonly JobFindingSource[] = [
  placementFindings,
  dataFindings,
  attemptFindings,
  pendingFindings,
  fairShareFindings,
  budgetFindings,
];

export async function explainJob(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'sites' | 'queue' | 'policies' | 'clock' | 'accounting'>,
  principal: Principal,
  taskId: string,
  jobIndex: number,
  sources: readonly JobFindingSource[] = JOB_FINDING_SOURCES,
): Promise<JobExplanation> {
  const task = await ownedTask(deps.tasks, principal, taskId);
  if (jobIndex >= task.jobCount) throw new NotFoundError(`job ${jobIdOf(taskId, jobIndex)} not found`);
  const [job, decision, sites, shares, budget] = await Promise.all([
    jobWithAttempts(deps, task, task.spec, jobIndex),
    deps.tasks.getBrokerage(taskId),
    deps.sites.list(),
    getShares(deps),
    taskBudget(deps, task),
  ]);
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  const ctx: JobContext = {
    task,
    job,
    decision,
    site: (siteId) => byId.get(siteId),
    queuedJobs: (siteId, classes) => deps.queue.depth(siteId, classes),
    shares: { ...shares, held: await heldAtCaps(deps, shares) },
    ...(budget === undefined ? {} : { budget }),
  };
  const findings: JobFinding[] = [];
  for (const source of sources) findings.push(...(await source(ctx)));
  return {
    taskId,
    jobIndex,
    state: job.state,
    attempt: job.attempt,
    ...(job.siteId === undefined ? {} : { siteId: job.siteId }),
    findings,
  };
}
