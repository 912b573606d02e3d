import type { TaskExplanation } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { resourceClassOf } from '../jobs/resource-class.ts';
import { brokerSites } from '../policies/broker-sites.ts';
import { describeData } from '../policies/broker-task.ts';
import type { BrokerageDecision } from '../policies/brokerage-decision.ts';
import { firstRejection } from '../policies/site-filters.ts';
import {
  type BudgetStanding,
  budgetRejection,
  budgetStanding,
  describeBudget,
  inFlightOf,
} from '../policies/task-budget.ts';
import { isPaidSite } from '../provisioning/cloud-site.ts';
import type { ProvisioningDecision } from '../provisioning/provisioning-decision.ts';
import { emptyCensus, type SiteRecord } from '../sites/site.ts';
import { scoutPlan } from './scout-sizing.ts';
import type { Task } from './task.ts';
import { isFinalTaskState } from './task.ts';
import { ownedTask } from './task-access.ts';
import { type WaitingFacts, waitingAtSite } from './waiting-at-site.ts';

type SiteEntry = TaskExplanation['sites'][number];

/** A scouted task's jobs after the scouts wait for them: say so while they run. */
function scoutingFinding(task: Task): string | undefined {
  const plan = scoutPlan(task.spec);
  if (plan === undefined || task.sizing !== undefined) return undefined;
  return `The task runs its ${plan.scouts} scout jobs first: the rest of its ${plan.unit}s is cut into jobs of about ${plan.targetWalltimeSec} s, sized from what the scouts measure, when they end.`;
}

/**
 * Looks at the task, its stored brokerage decision, its sites and their pilots as the matchmaker
 * would, and says in words what holds its jobs back (as `condor_q -better-analyze` does for
 * HTCondor). A task not brokered yet is brokered now, for the answer only (nothing is stored).
 */
export async function explainTask(
  deps: Pick<Deps, 'tasks' | 'sites' | 'queue' | 'clock' | 'accounting'>,
  principal: Principal,
  taskId: string,
): Promise<TaskExplanation> {
  const task = await ownedTask(deps.tasks, principal, taskId);
  const stored = await deps.tasks.getBrokerage(taskId);
  if (isFinalTaskState(task.state)) {
    // Nothing is pending in a task that ended: say how it ended, and why; and what brokerage saw.
    const ended = [`The task is ${task.state}: nothing of it is pending.`];
    if (task.reason !== undefined) ended.push(`The task says: ${task.reason}`);
    if (stored?.data !== undefined) ended.push(describeData(stored.data));
    return {
      taskId,
      state: task.state,
      findings: ended,
      sites: stored === undefined ? [] : decisionSites(task, stored),
      ...(stored === undefined ? {} : { brokerage: stored }),
    };
  }
  const sites = await deps.sites.list();
  const decision =
    stored ??
    (task.siteIds.length === 0
      ? await brokerSites(deps, task.spec, deps.clock.now().toISOString())
      : undefined);

  const findings: string[] = [];
  const c = task.counts;
  const budget = await taskBudget(deps, task);
  if (task.cancelRequested) findings.push('The task was cancelled: no job of it will start any more.');
  if (task.paused === true)
    findings.push('The task is paused by its owner: no job of it starts until it is resumed.');
  if (task.reason !== undefined) findings.push(`The task says: ${task.reason}`);
  if (task.state === 'submitted' || task.state === 'splitting') {
    findings.push(
      `The task is ${task.state}: ${task.jobsEnqueued} of ${task.jobCount} jobs are queued so far.`,
    );
  }
  const scouting = scoutingFinding(task);
  if (scouting !== undefined) findings.push(scouting);
  if (stored !== undefined && stored.chosen.length > 0) findings.push(describeChoice(stored));
  if (decision?.data !== undefined) findings.push(describeData(decision.data));
  for (const w of decision?.waived ?? []) {
    findings.push(
      `Site ${w.siteId} was chosen although ${w.reason}: no site without that could take the jobs.`,
    );
  }

  if (budget !== undefined) {
    const paid = task.siteIds.filter((id) => sites.some((s) => s.siteId === id && isPaidSite(s)));
    findings.push(describeBudget(budget, paid));
  }

  const byId = new Map<string, SiteEntry>(
    decision === undefined ? [] : decisionSites(task, decision).map((e) => [e.siteId, e]),
  );
  for (const site of [...sites].sort((a, b) => a.siteId.localeCompare(b.siteId))) {
    const recorded = byId.get(site.siteId);
    if (!task.siteIds.includes(site.siteId)) {
      byId.set(site.siteId, recorded ?? notChosenNow(task, site));
      continue;
    }
    const waiting = await waitingFacts(deps, task, site);
    const spent = budget?.overBudget === true && isPaidSite(site);
    byId.set(site.siteId, {
      siteId: site.siteId,
      chosen: true,
      ...(recorded?.weight === undefined ? {} : { weight: recorded.weight }),
      ...(spent && budget !== undefined
        ? { rejected: budgetRejection(budget), filter: 'budget' as const }
        : waiting.failing === undefined
          ? {}
          : { rejected: waiting.failing.reason, filter: waiting.failing.filter }),
      status: site.status,
      queuedJobs: waiting.queuedJobs,
      pilots: waiting.pilots,
      maxPilots: site.maxPilots,
    });
    if (c.queued > 0) findings.push(waitingAtSite(waiting, 'task').message);
    if (site.provisioned !== undefined) findings.push(provisioningFinding(site.provisioned));
  }
  if (c.queued > 0) findings.unshift(`${c.queued} of ${task.jobCount} jobs are queued.`);
  if (c.running > 0) findings.push(`${c.running} jobs are running.`);
  if (task.siteIds.length === 0 && decision !== undefined && decision.chosen.length === 0) {
    findings.push('No site can run the jobs now; see why for each site below.');
  }
  if (findings.length === 0) findings.push(`The task is ${task.state}; nothing holds it back.`);
  return {
    taskId,
    state: task.state,
    findings,
    sites: [...byId.values()].sort((a, b) => a.siteId.localeCompare(b.siteId)),
    ...(stored === undefined ? {} : { brokerage: stored }),
  };
}

/** A budgeted task's standing: its cost total (one read) against its budget, with its jobs in flight. */
export async function taskBudget(
  deps: Pick<Deps, 'accounting'>,
  task: Task,
): Promise<BudgetStanding | undefined> {
  const budget = task.spec.budget;
  if (budget === undefined) return undefined;
  const cost = await deps.accounting.taskCost(task.taskId);
  return budgetStanding(budget.usd, cost, inFlightOf(task.jobsEnqueued, task.counts));
}

/** A cloud site's last provisioning decision, for the tasks it runs: what it has, asked for, and why. */
export function provisioningFinding(decision: ProvisioningDecision): string {
  const what = decision.type === 'ec2' ? 'instances' : 'pilot jobs';
  return (
    `Cloud site ${decision.siteId} (${decision.pending + decision.running} ${what}, ${decision.slots} slots, ` +
    `$${decision.hourlyUsd}/h), provisioner at ${decision.at}: ${decision.summary}`
  );
}

/** "Brokerage chose 2 of 3 sites (at …): cern 62% of the jobs, bnl 38%." */
export function describeChoice(decision: BrokerageDecision): string {
  const parts = [...decision.chosen]
    .sort((a, b) => b.weight - a.weight || a.siteId.localeCompare(b.siteId))
    .map((c, k) => `${c.siteId} ${percent(c.weight)}${k === 0 ? ' of the jobs' : ''}`);
  return `Brokerage chose ${decision.chosen.length} of ${decision.sitesConsidered} sites (at ${decision.at}): ${parts.join(', ')}.`;
}

export function percent(x: number): string {
  return `${Math.round(x * 1000) / 10}%`;
}

/** The sites as the decision recorded them: chosen with their weight, rejected with filter and reason. */
function decisionSites(task: Pick<Task, 'siteIds'>, decision: BrokerageDecision): SiteEntry[] {
  return [
    ...decision.chosen.map((c) => ({
      siteId: c.siteId,
      chosen: task.siteIds.includes(c.siteId),
      weight: c.weight,
    })),
    ...decision.rejected.map((r) => ({
      siteId: r.siteId,
      chosen: false,
      rejected: r.reason,
      filter: r.filter,
    })),
  ].sort((a, b) => a.siteId.localeCompare(b.siteId));
}

/** A site brokerage did not record (a task brokered before decisions were kept): why not, now. */
function notChosenNow(task: Task, site: SiteRecord): SiteEntry {
  const now = firstRejection(task.spec, { site });
  return {
    siteId: site.siteId,
    chosen: false,
    ...(now === undefined ? {} : { rejected: now.reason, filter: now.filter }),
  };
}

/** A chosen site now: its pilots, its queue, and the hard filter the task fails there now, if one. */
async function waitingFacts(deps: Pick<Deps, 'queue'>, task: Task, site: SiteRecord): Promise<WaitingFacts> {
  const failing = firstRejection(task.spec, { site });
  const resourceClass = resourceClassOf(task.spec.resources);
  return {
    site,
    pilots: site.census?.pilots ?? emptyCensus(),
    queuedJobs: await deps.queue.depth(site.siteId, [resourceClass]),
    resourceClass,
    ...(failing === undefined ? {} : { failing }),
  };
}
