import type { TaskExplanation } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { brokerTask } from '../policies/broker-task.ts';
import { emptyCensus, livePilots } from '../sites/site.ts';
import { isFinalTaskState } from './task.ts';
import { ownedTask } from './task-access.ts';

/**
 * Looks at the task, its sites and their pilots as the matchmaker would, and says in words what
 * holds its jobs back (as `condor_q -better-analyze` does for HTCondor).
 */
export async function explainTask(
  deps: Pick<Deps, 'tasks' | 'sites' | 'queue'>,
  principal: Principal,
  taskId: string,
): Promise<TaskExplanation> {
  const task = await ownedTask(deps.tasks, principal, taskId);
  const sites = await deps.sites.list();
  const brokerage = brokerTask(task.spec, sites);
  const findings: string[] = [];
  const c = task.counts;
  if (isFinalTaskState(task.state)) {
    // Nothing is pending in a task that ended: say how it ended, and why.
    const ended = [`The task is ${task.state}: nothing of it is pending.`];
    if (task.reason !== undefined) ended.push(`The task says: ${task.reason}`);
    return { taskId, state: task.state, findings: ended, sites: [] };
  }
  if (task.cancelRequested) findings.push('The task was cancelled: no job of it will start any more.');
  if (task.reason !== undefined) findings.push(`The task says: ${task.reason}`);
  if (task.state === 'submitted' || task.state === 'splitting') {
    findings.push(
      `The task is ${task.state}: ${task.jobsEnqueued} of ${task.jobCount} jobs are queued so far.`,
    );
  }

  const explained: TaskExplanation['sites'] = [];
  for (const site of [...sites].sort((a, b) => a.siteId.localeCompare(b.siteId))) {
    const chosen = task.siteIds.includes(site.siteId);
    const rejected = brokerage.rejected.find((r) => r.siteId === site.siteId)?.reason;
    if (!chosen) {
      explained.push({ siteId: site.siteId, chosen, ...(rejected === undefined ? {} : { rejected }) });
      continue;
    }
    const queuedJobs = await deps.queue.depth(site.siteId);
    const pilots = site.census?.pilots ?? emptyCensus();
    explained.push({
      siteId: site.siteId,
      chosen,
      ...(rejected === undefined ? {} : { rejected }),
      status: site.status,
      queuedJobs,
      pilots,
      maxPilots: site.maxPilots,
    });
    if (c.queued === 0) continue;
    const live = livePilots(pilots);
    if (site.status !== 'online') {
      findings.push(
        `Site ${site.siteId} is ${site.status}: its pilot factory starts no pilots, so queued jobs wait there.`,
      );
    } else if (rejected !== undefined) {
      findings.push(
        `Site ${site.siteId} no longer fits the task (${rejected}); jobs already sent there wait for it.`,
      );
    } else if (site.maxPilots === 0) {
      findings.push(`Site ${site.siteId} allows no pilots (maxPilots 0).`);
    } else if (live === 0) {
      findings.push(
        `No pilot is running at ${site.siteId}: ${queuedJobs} job messages wait for its pilot factory to start pilots (up to ${site.maxPilots}).`,
      );
    } else if (pilots.idle + pilots.starting === 0) {
      findings.push(
        `All ${live} pilots at ${site.siteId} are busy (cap ${site.maxPilots}); ${queuedJobs} job messages wait their turn, first in first out.`,
      );
    } else {
      findings.push(
        `${pilots.idle + pilots.starting} pilots at ${site.siteId} are idle or starting: queued jobs should start within a poll.`,
      );
    }
  }
  if (c.queued > 0) findings.unshift(`${c.queued} of ${task.jobCount} jobs are queued.`);
  if (c.running > 0) findings.push(`${c.running} jobs are running.`);
  if (task.siteIds.length === 0 && brokerage.siteIds.length === 0) {
    findings.push('No site can run the jobs now; see why for each site below.');
  }
  if (findings.length === 0) findings.push(`The task is ${task.state}; nothing holds it back.`);
  return { taskId, state: task.state, findings, sites: explained };
}
