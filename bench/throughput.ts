/**
 * `npm run bench`: pushes N trivial jobs through the local stack with P pilots and prints jobs/s,
 * queued→starting latency percentiles, AWS requests per job by service (counted by SDK middleware
 * in the functions and in the pilots), DynamoDB capacity units per job, and the estimated
 * control-plane dollars per million jobs on AWS (prices in bench/prices.ts).
 *
 *   npm run bench -- --jobs 2000 --pilots 4 [--page-size 500] [--json]
 */
// Must be set before the functions' clients are built (at their cold start, inside startLocalStack).
process.env.GLUON_MEASURE_CAPACITY = '1';

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { awsRequestCounts, dynamoDbCapacity, resetAwsRequestCounts } from '#adapters/aws-clients.ts';
import { startLocalStack } from '#local/stack.ts';
import { Api, waitFor } from '#test/support/e2e.ts';
import { LAMBDA_ASSUMPTION, PRICES } from './prices.ts';

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive whole number');
  return n;
}

const options = new Command()
  .name('npm run bench --')
  .description('Throughput, latency, AWS requests and dollars per million jobs, on the local stack.')
  .option('--jobs <n>', 'trivial jobs to push through', positive, 2000)
  .option('--pilots <n>', 'pilot processes at once', positive, 4)
  .option('--page-size <n>', 'jobs written and sent per enqueue step', positive, 500)
  .option('--json', 'print one JSON object instead of the report')
  .parse()
  .opts<{ jobs: number; pilots: number; pageSize: number; json?: boolean }>();

const stateDir = mkdtempSync(join(tmpdir(), 'gluon-bench-'));
const stack = await startLocalStack({
  stateDir,
  apiPort: 0,
  dynamodbPort: 0,
  sqsPort: 0,
  sfnPort: 0,
  pilots: options.pilots,
  inMemory: true,
  enqueuePageSize: options.pageSize,
  pilotIdleExitSec: 5,
  pilotCheckEverySec: 0.5,
  log: () => undefined,
});

try {
  const api = new Api(stack.apiUrl, stack.userToken);
  resetAwsRequestCounts();
  const capacityBefore = dynamoDbCapacity();
  const started = Date.now();
  const taskId = await api.submit({
    name: 'bench',
    payload: { command: 'true' },
    events: options.jobs,
    split: { eventsPerJob: 1 },
    resources: { cores: 1, memoryMB: 100, walltimeSec: 60, diskMB: 10 },
    maxAttempts: 1,
  });
  let polls = 0;
  const task = await waitFor(
    async () => {
      polls++;
      const t = await api.task(taskId);
      return ['done', 'partial', 'failed', 'cancelled'].includes(t.state) ? t : undefined;
    },
    { timeoutMs: 3_600_000, intervalMs: 1000, what: 'the benchmark task to end' },
  );
  const seconds = (Date.now() - started) / 1000;
  const functionRequests = awsRequestCounts();
  const capacityAfter = dynamoDbCapacity();
  const jobs = await api.jobs(taskId);
  await stack.stop();

  const latencies = jobs
    .map((j) =>
      j.attempts[0] === undefined
        ? Number.NaN
        : Date.parse(j.attempts[0].startedAt) - Date.parse(j.createdAt),
    )
    .filter((ms) => Number.isFinite(ms))
    .sort((a, b) => a - b);
  const pilots = pilotStats(join(stateDir, 'logs'));
  const n = task.jobCount;
  const byService = new Map<string, number>();
  const all: Record<string, number> = {};
  for (const [key, count] of [...Object.entries(functionRequests), ...Object.entries(pilots.awsRequests)]) {
    const [service = key] = key.split('.');
    byService.set(service, (byService.get(service) ?? 0) + count);
    all[key] = (all[key] ?? 0) + count;
  }
  const apiCalls = Object.values(pilots.apiRequests).reduce((a, b) => a + b, 0) + 1;
  const pages = Math.ceil(n / options.pageSize);
  const workflowInvocations = 2 + pages + 2;
  const transitions = 2 * pages + 6;
  const writeUnits = capacityAfter.write - capacityBefore.write;
  const readUnits = capacityAfter.read - capacityBefore.read;
  const lambdaInvocations = apiCalls + workflowInvocations;
  const perMillion = (count: number, pricePerMillion: number) => (count / n) * pricePerMillion;
  const dollars = {
    dynamoDb:
      perMillion(writeUnits, PRICES.dynamoDbWriteUnitPerMillion) +
      perMillion(readUnits, PRICES.dynamoDbReadUnitPerMillion),
    sqs: perMillion(byService.get('SQS') ?? 0, PRICES.sqsRequestPerMillion),
    apiGateway: perMillion(apiCalls, PRICES.httpApiRequestPerMillion),
    lambda:
      perMillion(lambdaInvocations, PRICES.lambdaRequestPerMillion) +
      (lambdaInvocations / n) *
        LAMBDA_ASSUMPTION.memoryGb *
        LAMBDA_ASSUMPTION.billedSec *
        PRICES.lambdaGbSecondArm *
        1e6,
    stepFunctions: perMillion(transitions, PRICES.stepFunctionsTransitionPerMillion),
  };
  const controlPlane = Object.values(dollars).reduce((a, b) => a + b, 0);
  const s3Data =
    perMillion(all['S3.PutObject'] ?? 0, PRICES.s3PutPerMillion) +
    perMillion(all['S3.GetObject'] ?? 0, PRICES.s3GetPerMillion);
  const result = {
    jobs: n,
    pilots: options.pilots,
    state: task.state,
    seconds: round(seconds),
    jobsPerSecond: round(n / seconds),
    queuedToStartingMs: {
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
      max: latencies.at(-1) ?? 0,
    },
    awsRequestsPerJob: Object.fromEntries([...byService].map(([s, c]) => [s, round(c / n)])),
    awsRequestsPerJobByOperation: Object.fromEntries(Object.entries(all).map(([k, c]) => [k, round(c / n)])),
    apiCallsPerJob: Object.fromEntries(Object.entries(pilots.apiRequests).map(([k, c]) => [k, round(c / n)])),
    dynamoDbUnitsPerJob: { write: round(writeUnits / n), read: round(readUnits / n) },
    dynamoDbUnitsPerJobByOperation: Object.fromEntries(
      Object.entries(capacityAfter.byOperation).map(([k, v]) => [
        k,
        round((v - (capacityBefore.byOperation[k] ?? 0)) / n),
      ]),
    ),
    dollarsPerMillionJobs: { ...roundAll(dollars), controlPlane: round(controlPlane), s3Data: round(s3Data) },
    statusPolls: polls,
    pilotsReported: pilots.reported,
  };
  if (options.json === true) console.log(JSON.stringify(result));
  else printReport(result);
  process.exitCode = task.state === 'done' ? 0 : 1;
} catch (error) {
  await stack.stop();
  console.error(`benchmark failed: ${(error as Error).message}`);
  process.exitCode = 1;
}

/** Sums the request counts each pilot logged when it exited. */
function pilotStats(logsDir: string) {
  const awsRequests: Record<string, number> = {};
  const apiRequests: Record<string, number> = {};
  let reported = 0;
  for (const file of readdirSync(logsDir).filter((f) => f.startsWith('pilot-'))) {
    for (const line of readFileSync(join(logsDir, file), 'utf8').split('\n')) {
      if (!line.includes('"awsRequests"')) continue;
      try {
        const entry = JSON.parse(line) as {
          awsRequests?: Record<string, number>;
          apiRequests?: Record<string, number>;
        };
        reported++;
        for (const [k, v] of Object.entries(entry.awsRequests ?? {}))
          awsRequests[k] = (awsRequests[k] ?? 0) + v;
        for (const [k, v] of Object.entries(entry.apiRequests ?? {}))
          apiRequests[k] = (apiRequests[k] ?? 0) + v;
      } catch {
        // not a JSON line
      }
    }
  }
  return { awsRequests, apiRequests, reported };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function roundAll(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, round(v)]));
}

function printReport(r: {
  jobs: number;
  pilots: number;
  state: string;
  seconds: number;
  jobsPerSecond: number;
  queuedToStartingMs: { p50: number; p95: number; max: number };
  awsRequestsPerJob: Record<string, number>;
  awsRequestsPerJobByOperation: Record<string, number>;
  apiCallsPerJob: Record<string, number>;
  dynamoDbUnitsPerJob: { write: number; read: number };
  dynamoDbUnitsPerJobByOperation: Record<string, number>;
  dollarsPerMillionJobs: Record<string, number>;
  statusPolls: number;
  pilotsReported: number;
}): void {
  const lines = [
    `Gluon benchmark: ${r.jobs} trivial jobs, ${r.pilots} pilots, local stack (task ${r.state})`,
    `  throughput            ${r.jobsPerSecond} jobs/s (${r.seconds} s submit → task ${r.state})`,
    `  queued → starting     p50 ${r.queuedToStartingMs.p50} ms, p95 ${r.queuedToStartingMs.p95} ms, max ${r.queuedToStartingMs.max} ms`,
    `  AWS requests per job  ${Object.entries(r.awsRequestsPerJob)
      .map(([s, c]) => `${s} ${c}`)
      .join(', ')}`,
    ...Object.entries(r.awsRequestsPerJobByOperation).map(([k, c]) => `      ${k.padEnd(32)} ${c}`),
    `  API calls per job     ${Object.entries(r.apiCallsPerJob)
      .map(([k, c]) => `${k} ${c}`)
      .join(', ')}`,
    `  DynamoDB units/job    write ${r.dynamoDbUnitsPerJob.write}, read ${r.dynamoDbUnitsPerJob.read}`,
    ...Object.entries(r.dynamoDbUnitsPerJobByOperation).map(([k, c]) => `      ${k.padEnd(32)} ${c}`),
    '  $ per million jobs on AWS (control plane, list prices in bench/prices.ts):',
    ...Object.entries(r.dollarsPerMillionJobs)
      .filter(([k]) => k !== 'controlPlane' && k !== 's3Data')
      .map(([k, v]) => `      ${k.padEnd(16)} $${v.toFixed(2)}`),
    `      ${'total'.padEnd(16)} $${(r.dollarsPerMillionJobs.controlPlane ?? 0).toFixed(2)}`,
    `    plus S3 requests for logs/outputs (data plane): $${(r.dollarsPerMillionJobs.s3Data ?? 0).toFixed(2)}`,
    `  (pilot counts from ${r.pilotsReported} pilot exit reports; ${r.statusPolls} status polls by the benchmark are in the function counts)`,
  ];
  console.log(lines.join('\n'));
}
