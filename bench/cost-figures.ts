/**
 * What one measured task costs, per unit (a job, an event range): AWS requests by service and
 * operation (the functions' SDK middleware and the pilots' exit reports together), DynamoDB
 * capacity units, Lambda invocations and their measured duration, API calls, state transitions,
 * CloudWatch Logs bytes, and from them the control-plane dollars per million units (costs.ts);
 * with the CPU seconds of the stack process, DynamoDB Local and the pilots over the same window.
 *
 *   const window = openCostWindow(stack);   // before the submission
 *   …submit, wait for the task's end…
 *   const figures = await closeCostWindow(stack, window, { units, taskId, polls });
 */
import { join } from 'node:path';
import {
  awsRequestCounts,
  awsRequestMillis,
  dynamoDbCapacity,
  resetAwsRequestCounts,
} from '#adapters/aws-clients.ts';
import { functionInvocations, resetFunctionInvocations } from '#local/lambda-handler.ts';
import type { LocalStack } from '#local/stack.ts';
import { loggedBytes } from '#platform/logger.ts';
import { dollarsPerMillion, lambdaGbSeconds } from './costs.ts';
import { ownCpuSec, pilotStats, processCpuSec, round, until } from './measure.ts';

export interface CostWindow {
  javaPid: number;
  capacity: ReturnType<typeof dynamoDbCapacity>;
  logBytes: number;
  accessBytes: number;
  cpu: { stack: number; java: number };
}

export interface CostFigures {
  /** CPU seconds over the window (totals): pilots from their exit reports, with their payloads. */
  cpuSec: { stackProcess: number; dynamoDbLocal: number; pilots: number };
  /** The rest is per unit. */
  awsRequests: Record<string, number>;
  awsRequestsByOperation: Record<string, number>;
  /** Mean answer time of the functions' requests, by operation (the stand-ins' speed); not per unit. */
  functionRequestMs: Record<string, number>;
  apiCalls: Record<string, number>;
  dynamoDbUnits: { write: number; read: number };
  dynamoDbUnitsByOperation: Record<string, number>;
  lambda: {
    invocations: number;
    gbSeconds: number;
    byFunction: Record<string, { invocations: number; msPerInvocation: number }>;
  };
  stateTransitions: number;
  /** The task's workflow history events (not per unit). */
  historyEvents: number;
  logBytes: number;
  dollarsPerMillion: Record<string, number>;
  pilotsReported: number;
}

/** Pilots not started by the local factory (a cloud site's, on the fake's instances): how to wait for their exit, where they log. */
export interface PilotsElsewhere {
  exited(): Promise<unknown>;
  logsDir: string;
  /** Their log files' names start with this. */
  logPrefix: string;
}

/** Zeroes the counters and notes where the others stand: call it just before the submission. */
export function openCostWindow(stack: LocalStack): CostWindow {
  const javaPid = stack.dynamodbPid ?? 0;
  resetAwsRequestCounts();
  resetFunctionInvocations();
  return {
    javaPid,
    capacity: dynamoDbCapacity(),
    logBytes: loggedBytes(),
    accessBytes: stack.accessLogBytes(),
    cpu: { stack: ownCpuSec(), java: processCpuSec(javaPid) },
  };
}

/**
 * Reads the figures at the task's end, then waits for the pilots to exit (they report their
 * requests and CPU then, idle a few seconds after the task) and adds theirs. `polls`: the
 * benchmark's own status polls, which are not the task's cost and are taken out of get-task.
 */
export async function closeCostWindow(
  stack: LocalStack,
  window: CostWindow,
  run: { units: number; taskId: string; polls: number; pilots?: PilotsElsewhere },
): Promise<CostFigures> {
  const cpu = {
    stack: ownCpuSec() - window.cpu.stack,
    java: processCpuSec(window.javaPid) - window.cpu.java,
  };
  const capacity = dynamoDbCapacity();
  const invocations = functionInvocations();
  const functionRequests = awsRequestCounts();
  const functionMillis = awsRequestMillis();
  const transitions = stack.workflows.stateTransitions(run.taskId);
  const historyEvents = stack.workflows.historyEvents(run.taskId);
  const logBytes = loggedBytes() - window.logBytes;
  const accessBytes = stack.accessLogBytes() - window.accessBytes;
  const getTask = invocations['get-task'];
  if (getTask !== undefined) {
    const share = Math.min(1, run.polls / getTask.count);
    getTask.billedMs -= getTask.billedMs * share;
    getTask.count -= Math.min(getTask.count, run.polls);
  }
  if (run.pilots === undefined) {
    await until(async () => (stack.factory.alive().length === 0 ? true : undefined), 'the pilots to exit', {
      timeoutMs: 120_000,
    });
  } else await run.pilots.exited();
  const pilots =
    run.pilots === undefined
      ? pilotStats(join(stack.stateDir, 'logs'))
      : pilotStats(run.pilots.logsDir, run.pilots.logPrefix);
  const n = run.units;
  const requests: Record<string, number> = { ...functionRequests };
  for (const [k, v] of Object.entries(pilots.awsRequests)) requests[k] = (requests[k] ?? 0) + v;
  const pilotApiCalls = Object.values(pilots.apiRequests).reduce((a, b) => a + b, 0);
  const apiCalls = pilotApiCalls + 1; // and the submission
  const allCalls = apiCalls + run.polls;
  const measured = {
    units: n,
    dynamoDb: {
      write: capacity.write - window.capacity.write,
      read: capacity.read - window.capacity.read,
    },
    requests,
    apiCalls,
    invocations,
    stateTransitions: transitions,
    logBytes: logBytes + (accessBytes * apiCalls) / allCalls,
  };
  const perUnit = (x: number) => round(x / n, 3);
  const byService = new Map<string, number>();
  for (const [key, count] of Object.entries(requests)) {
    const service = key.split('.')[0] ?? key;
    byService.set(service, (byService.get(service) ?? 0) + count);
  }
  return {
    cpuSec: { stackProcess: cpu.stack, dynamoDbLocal: cpu.java, pilots: pilots.cpuSec },
    awsRequests: Object.fromEntries([...byService].map(([s, c]) => [s, perUnit(c)])),
    awsRequestsByOperation: Object.fromEntries(
      Object.entries(requests)
        .sort()
        .map(([k, c]) => [k, perUnit(c)]),
    ),
    functionRequestMs: Object.fromEntries(
      Object.entries(functionMillis).map(([k, ms]) => [k, round(ms / (functionRequests[k] ?? 1), 1)]),
    ),
    apiCalls: Object.fromEntries(Object.entries(pilots.apiRequests).map(([k, c]) => [k, perUnit(c)])),
    dynamoDbUnits: { write: perUnit(measured.dynamoDb.write), read: perUnit(measured.dynamoDb.read) },
    dynamoDbUnitsByOperation: Object.fromEntries(
      Object.entries(capacity.byOperation).map(([k, v]) => [
        k,
        perUnit(v - (window.capacity.byOperation[k] ?? 0)),
      ]),
    ),
    lambda: {
      invocations: perUnit(Object.values(invocations).reduce((a, b) => a + b.count, 0)),
      gbSeconds: round(lambdaGbSeconds(invocations) / n, 5),
      byFunction: Object.fromEntries(
        Object.entries(invocations).map(([k, v]) => [
          k,
          {
            invocations: perUnit(v.count),
            msPerInvocation: v.count === 0 ? 0 : round(v.billedMs / v.count, 1),
          },
        ]),
      ),
    },
    stateTransitions: perUnit(transitions),
    historyEvents,
    logBytes: round(measured.logBytes / n, 1),
    dollarsPerMillion: Object.fromEntries(
      Object.entries(dollarsPerMillion(measured)).map(([k, v]) => [k, round(v)]),
    ),
    pilotsReported: pilots.reported,
  };
}

export function money(x: number): string {
  return `$${x.toFixed(2)}`;
}

/** The report's lines for the figures, from the requests to the dollars; `unit`: job, range. */
export function costLines(f: CostFigures, unit: string): string[] {
  const width = `AWS requests per ${unit}`.length + 2;
  const head = (label: string) => `  ${label.padEnd(width)}`;
  const d = f.dollarsPerMillion;
  return [
    `${head(`AWS requests per ${unit}`)}${Object.entries(f.awsRequests)
      .map(([s, c]) => `${s} ${c}`)
      .join(', ')}`,
    ...Object.entries(f.awsRequestsByOperation).map(
      ([k, c]) =>
        `      ${k.padEnd(34)} ${c}${f.functionRequestMs[k] === undefined ? '' : `   (functions wait ${f.functionRequestMs[k]} ms each)`}`,
    ),
    `${head(`API calls per ${unit}`)}${Object.entries(f.apiCalls)
      .map(([k, c]) => `${k} ${c}`)
      .join(', ')}`,
    `${head(`DynamoDB units/${unit}`)}write ${f.dynamoDbUnits.write}, read ${f.dynamoDbUnits.read}`,
    ...Object.entries(f.dynamoDbUnitsByOperation)
      .filter(([, v]) => v > 0)
      .map(([k, c]) => `      ${k.padEnd(34)} ${c}`),
    `${head(`Lambda per ${unit}`)}${f.lambda.invocations} invocations, ${f.lambda.gbSeconds} GB-s (measured durations)`,
    ...Object.entries(f.lambda.byFunction).map(
      ([k, v]) => `      ${k.padEnd(34)} ${v.invocations} × ${v.msPerInvocation} ms`,
    ),
    `${head('Step Functions')}${f.stateTransitions} transitions per ${unit} (${f.historyEvents} history events for the task)`,
    `${head('CloudWatch Logs')}${f.logBytes} bytes per ${unit} (function logs and API access logs)`,
    `  $ per million ${unit}s on AWS (control plane, list prices in bench/prices.ts):`,
    ...['dynamoDb', 'sqs', 'apiGateway', 'lambda', 'stepFunctions', 'cloudWatchLogs', 'eventBridge'].map(
      (k) => `      ${k.padEnd(16)} ${money(d[k] ?? 0)}`,
    ),
    `      ${'total'.padEnd(16)} ${money(d.controlPlane ?? 0)}`,
    `    plus S3 requests for logs and outputs (data plane): ${money(d.s3Data ?? 0)}`,
  ];
}
