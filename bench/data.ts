/**
 * `npm run bench -- --data [--files 400] [--pilots 4] [--json]`: the data catalog, on the local
 * stack. Printed (or `--json`), never asserted:
 * - **registration**: files uploaded to a bucket (an endpoint close to the site), then registered
 *   through the API in manifests of up to 1000: files/s, and per file the AWS requests, DynamoDB
 *   units and the control plane's dollars per million files;
 * - **a dataset task**: one job per file (filesPerJob 1; the job reads its file and writes one
 *   output, registered in the task's output dataset): jobs/s and the cost per job (cost-figures.ts)
 *   with the catalog's share (resolution, output registration) in it, to set beside the trivial
 *   generation job of `npm run bench`;
 * - **transfers**: a rule copying every file to a second endpoint (the transfer service: copy,
 *   read back for the adler32, replica and lock written): files/s and per file the requests,
 *   DynamoDB units and dollars, S3 apart.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { awsRequestCounts, dynamoDbCapacity, resetAwsRequestCounts } from '#adapters/aws-clients.ts';
import { mapBounded } from '#adapters/concurrency.ts';
import { GluonClient } from '#client/gluon-client.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { functionInvocations, resetFunctionInvocations } from '#local/lambda-handler.ts';
import type { LocalStack } from '#local/stack.ts';
import { adler32 } from '#pilot/adler32.ts';
import { loggedBytes } from '#platform/logger.ts';
import { startStack, TRIVIAL_RESOURCES, waitForTask, warmPilots } from './bench-stack.ts';
import { closeCostWindow, costLines, money, openCostWindow } from './cost-figures.ts';
import { dollarsPerMillion } from './costs.ts';
import { round, until } from './measure.ts';

export interface DataBenchOptions {
  files: number;
  pilots: number;
  json?: boolean;
}

const SCOPE = 'user.local-user';
const DATASET = `${SCOPE}:bench-data`;
const MANIFEST = 1000;

/** What a stretch of API calls cost, per unit: requests, DynamoDB units, dollars (no task, no pilots). */
function meter() {
  resetAwsRequestCounts();
  resetFunctionInvocations();
  const capacity = dynamoDbCapacity();
  const logBytes = loggedBytes();
  return (units: number, apiCalls: number) => {
    const requests = awsRequestCounts();
    const now = dynamoDbCapacity();
    const measured = {
      units,
      dynamoDb: { write: now.write - capacity.write, read: now.read - capacity.read },
      requests,
      apiCalls,
      invocations: functionInvocations(),
      stateTransitions: 0,
      logBytes: loggedBytes() - logBytes,
    };
    const per = (x: number) => round(x / units, 3);
    return {
      awsRequestsByOperation: Object.fromEntries(Object.entries(requests).map(([k, n]) => [k, per(n)])),
      dynamoDbUnits: { write: per(measured.dynamoDb.write), read: per(measured.dynamoDb.read) },
      dollarsPerMillion: Object.fromEntries(
        Object.entries(dollarsPerMillion(measured)).map(([k, v]) => [k, round(v)]),
      ),
    };
  };
}

function readerTask(): TaskSpecInput {
  return {
    name: 'bench-reader',
    payload: { command: 'sh', args: ['-c', 'cat $GLUON_INPUT_FILES > out.txt'] },
    inputs: { dataset: DATASET },
    split: { filesPerJob: 1 },
    outputs: ['out.txt'],
    resources: TRIVIAL_RESOURCES,
    maxAttempts: 2,
  };
}

async function measure(stack: LocalStack, o: DataBenchOptions) {
  const api = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken, timeoutMs: 60_000 });
  const admin = new GluonClient({
    baseUrl: stack.apiUrl,
    token: await stack.mintToken({ sub: 'bench-operator', scopes: ['gluon.admin'] }),
    timeoutMs: 60_000,
  });
  const s3 = new S3Client({
    endpoint: stack.endpoints.s3,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  for (const [endpointId, bucket, sites] of [
    ['BENCH-A', 'bench-a', ['local']],
    ['BENCH-B', 'bench-b', []],
  ] as const) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await admin.call('putEndpoint', {
      params: { endpointId },
      body: { kind: 's3', bucket, prefix: '', sites: [...sites], readable: true, writable: true },
    });
  }
  const coldStartSec = await warmPilots(stack, api, o.pilots);

  const names = Array.from({ length: o.files }, (_, i) => `f${String(i).padStart(6, '0')}.txt`);
  const bodies = names.map((name) => `${name} ${'x'.repeat(200)}\n`);
  await mapBounded(names, 16, (name) =>
    s3.send(new PutObjectCommand({ Bucket: 'bench-a', Key: name, Body: bodies[names.indexOf(name)] })),
  );

  // Registration through the API (the dataset made first).
  let stop = meter();
  let started = Date.now();
  await api.call('createDataset', { body: { dataset: DATASET } });
  let calls = 1;
  for (let from = 0; from < names.length; from += MANIFEST) {
    const files = names.slice(from, from + MANIFEST).map((name, j) => {
      const body = bodies[from + j] as string;
      return { name, bytes: Buffer.byteLength(body), adler32: adler32(body), events: 1 };
    });
    await api.call('registerFiles', { body: { dataset: DATASET, endpoint: 'BENCH-A', files } });
    calls++;
  }
  await api.call('closeDataset', { params: { did: DATASET } });
  calls++;
  const registerSec = (Date.now() - started) / 1000;
  const registration = stop(o.files, calls);

  // A dataset task: one job per file, its output registered.
  const window = openCostWindow(stack);
  const polls = { polls: 0 };
  started = Date.now();
  const { taskId } = await api.call('submitTask', { body: readerTask() });
  const task = await waitForTask(api, taskId, polls);
  const taskSec = ((Date.parse(task.endedAt ?? '') || Date.now()) - started) / 1000;
  const taskCosts = await closeCostWindow(stack, window, { units: o.files, taskId, polls: polls.polls });
  const outputs = await api.call('getDataset', { params: { did: `${SCOPE}:bench-reader.output` } });

  // A rule: every file copied to BENCH-B by the transfer service.
  stop = meter();
  started = Date.now();
  const rule = await api.call('addRule', { body: { did: DATASET, copies: 1, endpoints: ['BENCH-B'] } });
  let rulePolls = 0;
  const done = await until(
    async () => {
      rulePolls++;
      const r = await api.call('getRule', { params: { ruleId: rule.ruleId } });
      return r.state === 'ok' || r.state === 'stuck' ? r : undefined;
    },
    'the rule to be satisfied',
    { intervalMs: 250, timeoutMs: 600_000 },
  );
  const ruleSec = (Date.now() - started) / 1000;
  const transfers = stop(o.files, 1);
  return {
    files: o.files,
    pilots: o.pilots,
    coldStartSec: round(coldStartSec, 1),
    registration: {
      seconds: round(registerSec, 3),
      filesPerSecond: round(o.files / registerSec),
      ...registration,
    },
    task: {
      state: task.state,
      seconds: round(taskSec, 3),
      jobsPerSecond: round(o.files / taskSec),
      outputsRegistered: outputs.files,
      costs: taskCosts,
    },
    transfers: {
      state: done.state,
      counters: done.counters,
      seconds: round(ruleSec, 3),
      filesPerSecond: round(o.files / ruleSec),
      statusPolls: rulePolls,
      ...transfers,
    },
  };
}

function report(r: Awaited<ReturnType<typeof measure>>): string[] {
  const per = (m: { awsRequestsByOperation: Record<string, number> }) =>
    Object.entries(m.awsRequestsByOperation)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  const d = r.task.costs.dollarsPerMillion;
  return [
    `Gluon data benchmark: ${r.files} files of ~210 bytes at an endpoint close to the site, ${r.pilots} pilots, local stack`,
    `  registration            ${r.registration.filesPerSecond} files/s (${r.registration.seconds} s, manifests of ${MANIFEST} through the API)`,
    `      per file: ${per(r.registration)}`,
    `      DynamoDB units per file: write ${r.registration.dynamoDbUnits.write}, read ${r.registration.dynamoDbUnits.read}; control plane ${money(r.registration.dollarsPerMillion.controlPlane ?? 0)} per million files`,
    `  dataset task            ${r.task.jobsPerSecond} jobs/s (${r.task.seconds} s to ${r.task.state}; one file a job, its output registered: ${r.task.outputsRegistered} files in the output dataset)`,
    ...costLines(r.task.costs, 'job'),
    `  → control plane ${money(d.controlPlane ?? 0)} per million dataset jobs (resolution and output registration included); S3 data plane ${money(d.s3Data ?? 0)} apart`,
    `  transfers (a rule)      ${r.transfers.filesPerSecond} files/s (${r.transfers.seconds} s to ${r.transfers.state}: ${r.transfers.counters.available}/${r.transfers.counters.files} available, ${r.transfers.counters.failed} failed)`,
    `      per file: ${per(r.transfers)} (the API's status polls included)`,
    `      DynamoDB units per file: write ${r.transfers.dynamoDbUnits.write}, read ${r.transfers.dynamoDbUnits.read}; control plane ${money(r.transfers.dollarsPerMillion.controlPlane ?? 0)} per million files; S3 ${money(r.transfers.dollarsPerMillion.s3Data ?? 0)} (GET and PUT priced; CopyObject is a PUT on AWS)`,
    `  cold start              ${r.coldStartSec} s (the warm-up task that started the pilots; not in the figures)`,
  ];
}

export async function dataBench(o: DataBenchOptions): Promise<void> {
  const stack = await startStack({ pilots: o.pilots, pilotIdleExitSec: 15 });
  let run: Awaited<ReturnType<typeof measure>>;
  try {
    run = await measure(stack, o);
  } finally {
    await stack.stop();
  }
  console.log(o.json ? JSON.stringify(run) : report(run).join('\n'));
}
