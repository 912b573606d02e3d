import { describe, expect, it } from 'vitest';
import {
  budgetRejection,
  budgetStanding,
  describeBudget,
  inFlightOf,
  usd,
} from '#core/policies/task-budget.ts';

describe('budgetStanding', () => {
  it('expects nothing of the jobs in flight before any attempt had a cost', () => {
    expect(budgetStanding(1, { usd: 0, attempts: 0 }, 50)).toEqual({
      budgetUsd: 1,
      spentUsd: 0,
      inFlight: 50,
      expectedUsd: 0,
      overBudget: false,
    });
  });

  it('expects the mean cost of a costed attempt for each job in flight', () => {
    // $0.30 over 4 attempts: $0.075 each; 6 in flight: $0.45; $0.75 < $1.
    expect(budgetStanding(1, { usd: 0.3, attempts: 4 }, 6)).toMatchObject({
      expectedUsd: 0.45,
      overBudget: false,
    });
    // 10 in flight: $0.75 expected, $1.05 ≥ $1.
    expect(budgetStanding(1, { usd: 0.3, attempts: 4 }, 10)).toMatchObject({
      expectedUsd: 0.75,
      overBudget: true,
    });
  });

  it('is over budget at exactly the budget, and when spent alone reaches it', () => {
    expect(budgetStanding(0.5, { usd: 0.25, attempts: 1 }, 1).overBudget).toBe(true);
    expect(budgetStanding(0.5, { usd: 0.5, attempts: 2 }, 0).overBudget).toBe(true);
    expect(budgetStanding(0.5, { usd: 0.499999, attempts: 2 }, 0).overBudget).toBe(false);
  });

  it('counts released jobs that are not final as in flight', () => {
    expect(inFlightOf(10, { finished: 3, failed: 1, cancelled: 2 })).toBe(4);
    // A resubmitted job may count final more than released here: never below 0.
    expect(inFlightOf(2, { finished: 3, failed: 0, cancelled: 0 })).toBe(0);
  });
});

describe('why text', () => {
  it('says what was spent and expected, and once over budget that the paid sites get no jobs', () => {
    const over = budgetStanding(0.05, { usd: 0.06, attempts: 1 }, 3);
    expect(describeBudget(over, ['cloud-a'])).toBe(
      'Budget: $0.06 of $0.05 spent (+ $0.18 expected for 3 jobs in flight): its jobs go to no paid site (cloud-a) any more.',
    );
    expect(budgetRejection(over)).toBe(
      "the task's budget is spent: $0.06 + $0.18 expected of $0.05, and the site is paid",
    );
    const under = budgetStanding(10, { usd: 1.5, attempts: 3 }, 2);
    expect(describeBudget(under, ['cloud-a', 'cloud-b'])).toBe(
      'Budget: $1.50 of $10.00 spent (+ $1.00 expected for 2 jobs in flight): its jobs may still go to its paid sites (cloud-a, cloud-b).',
    );
    expect(describeBudget(under, [])).toBe(
      'Budget: $1.50 of $10.00 spent (+ $1.00 expected for 2 jobs in flight); none of its sites is paid.',
    );
  });

  it('shows amounts under a cent to the millionth', () => {
    expect(usd(0.000123)).toBe('$0.000123');
    expect(usd(0)).toBe('$0.00');
    expect(usd(12.5)).toBe('$12.50');
  });
});
