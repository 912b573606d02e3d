/**
 * Task budgets (spec.budget): what a task spent on paid sites, what its jobs in flight will cost
 * (as much each as its costed attempts cost on average), and whether that reaches the budget, in
 * which case dispatch sends its jobs to free sites only.
 */
import { roundUsd, type TaskCost } from '../accounting/usage.ts';
import type { Deps } from '../deps.ts';
import type { JobCounts } from '../jobs/job-counts.ts';

export interface BudgetStanding {
  budgetUsd: number;
  /** What the task's attempts cost so far (the accounting's task total). */
  spentUsd: number;
  /** Jobs released and not final: each may still cost as much as a costed attempt did on average. */
  inFlight: number;
  /** inFlight × the mean cost of a costed attempt so far (0 before any). */
  expectedUsd: number;
  /** spent + expected ≥ budget: no paid site for its jobs any more. */
  overBudget: boolean;
}

/** Jobs released to site queues and not final yet (queued or running). */
export function inFlightOf(released: number, counts: Pick<JobCounts, 'finished' | 'failed' | 'cancelled'>) {
  return Math.max(0, released - counts.finished - counts.failed - counts.cancelled);
}

/** Where the task stands against its budget. */
export function budgetStanding(budgetUsd: number, cost: TaskCost, inFlight: number): BudgetStanding {
  const mean = cost.attempts > 0 ? cost.usd / cost.attempts : 0;
  const expectedUsd = roundUsd(inFlight * mean);
  return {
    budgetUsd,
    spentUsd: cost.usd,
    inFlight,
    expectedUsd,
    overBudget: cost.usd + expectedUsd >= budgetUsd,
  };
}

/**
 * Reads what the task spent (one read of its cost total) and where its jobs are (its progress), for a
 * task with a budget; undefined for one without (nothing is read).
 */
export async function readBudgetStanding(
  deps: Pick<Deps, 'accounting' | 'tasks'>,
  task: { taskId: string; budgetUsd?: number | undefined; released: number },
): Promise<BudgetStanding | undefined> {
  if (task.budgetUsd === undefined) return undefined;
  const [cost, progress] = await Promise.all([
    deps.accounting.taskCost(task.taskId),
    deps.tasks.getProgress(task.taskId),
  ]);
  const inFlight = progress === undefined ? 0 : inFlightOf(task.released, progress.counts);
  return budgetStanding(task.budgetUsd, cost, inFlight);
}

/** `$0.42`, `$12.50`; below a cent, to the millionth (`$0.000123`). */
export function usd(x: number): string {
  if (x !== 0 && Math.abs(x) < 0.01) return `$${roundUsd(x)}`;
  return `$${x.toFixed(2)}`;
}

/**
 * "Budget: $X of $Y spent (+ $Z expected for N jobs in flight): its jobs go to no paid site (cloud-a)
 * any more." — or, under budget, what is left; `paidSiteIds` are the task's paid sites.
 */
export function describeBudget(standing: BudgetStanding, paidSiteIds: readonly string[]): string {
  const head = `Budget: ${usd(standing.spentUsd)} of ${usd(standing.budgetUsd)} spent (+ ${usd(standing.expectedUsd)} expected for ${standing.inFlight} jobs in flight)`;
  const sites = paidSiteIds.length === 0 ? '' : ` (${paidSiteIds.join(', ')})`;
  if (standing.overBudget) return `${head}: its jobs go to no paid site${sites} any more.`;
  return paidSiteIds.length === 0
    ? `${head}; none of its sites is paid.`
    : `${head}: its jobs may still go to its paid sites${sites}.`;
}

/** A paid site's rejection of an over-budget task, in words (for `why`'s sites list). */
export function budgetRejection(standing: BudgetStanding): string {
  return `the task's budget is spent: ${usd(standing.spentUsd)} + ${usd(standing.expectedUsd)} expected of ${usd(standing.budgetUsd)}, and the site is paid`;
}
