/**
 * What the benchmark task's compute cost, from the books: the accounting's cost total of the task
 * (its attempts at paid sites, each its wall time at its pilot's hourly price). The local site is
 * free, so a local run shows $0; a run on a cloud site shows what its pilots cost, next to the
 * control plane's dollars.
 */
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbAccountingStore } from '#adapters/dynamodb/dynamodb-accounting-store.ts';
import { roundUsd } from '#core/accounting/usage.ts';

export interface ComputeFigures {
  /** The task's cost total, USD. */
  usd: number;
  /** Attempts that had a cost (at paid sites). */
  costedAttempts: number;
  usdPerJob: number;
  /** From the unrounded total over the jobs (a trivial job's cost rounds to $0 per job). */
  usdPerMillionJobs: number;
}

/** Reads the task's cost total from the accounting table (call it after the cost window closed). */
export async function computeFigures(
  accountingTable: string,
  taskId: string,
  jobs: number,
): Promise<ComputeFigures> {
  const cost = await new DynamoDbAccountingStore(dynamoDbDocumentClient(), accountingTable).taskCost(taskId);
  return {
    usd: cost.usd,
    costedAttempts: cost.attempts,
    usdPerJob: jobs === 0 ? 0 : roundUsd(cost.usd / jobs),
    usdPerMillionJobs: jobs === 0 ? 0 : (cost.usd / jobs) * 1_000_000,
  };
}

/** The report's line, printed after the control plane's dollars per million jobs. */
export function computeLine(f: ComputeFigures): string {
  const perMillion = f.usdPerMillionJobs.toFixed(2);
  return `    compute (accounting): $${f.usd} in all, $${f.usdPerJob} per job = $${perMillion} per million jobs (${f.costedAttempts} attempts at paid sites; local sites are free)`;
}
