/**
 * Tasks that read catalog datasets, on the local stack: two sites (`local`, with pilots, and
 * `remote`, without), storage endpoints as buckets of the S3 stand-in, objects uploaded by the
 * test and registered in the catalog. Data-aware brokerage sends the jobs where the data is and
 * `gluon why` says so; a corrupt replica is passed over for the next; an open dataset fed while
 * its task runs is processed to the end once it is closed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCatalogStore } from '#adapters/dynamodb/dynamodb-catalog-store.ts';
import type { TaskExplanation } from '#core/api/tasks.ts';
import type { Did } from '#core/catalog/did.ts';
import type { LocalStack } from '#local/stack.ts';
import { adler32 } from '#pilot/adler32.ts';
import { Api, s3For, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;
let s3: S3Client;
let catalog: DynamoDbCatalogStore;
const SCOPE = 'user.local-user';
const AT = '2026-12-01T10:00:00.000Z';

beforeAll(async () => {
  stack = await startTestStack('data-aware', {
    pilots: 2,
    inMemory: true,
    pilotIdleExitSec: 30,
    // A small advertised memory: the pilots' health check wants 90 % of it free on a shared machine.
    pilotArgs: ['--memory-mb', '2000'],
  });
  api = new Api(stack.apiUrl, stack.userToken);
  const operator = new Api(stack.apiUrl, await stack.mintToken({ sub: 'operator', scopes: ['gluon.admin'] }));
  const remote = await operator.request('PUT', '/sites/remote', {
    kind: 'grid',
    slot: { cores: 4, memoryMB: 8000, walltimeSec: 3600, diskMB: 10_000 },
    maxPilots: 2,
  });
  expect(remote.status).toBe(200);
  s3 = s3For(stack);
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: stack.endpoints.dynamodb,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  catalog = new DynamoDbCatalogStore(db, stack.env.GLUON_CATALOG_TABLE as string, {
    resultsBucket: stack.env.GLUON_BUCKET as string,
  });
  // Two endpoints close to `local` (the second holds the good copies of (b)), none to `remote`.
  for (const [endpointId, bucket] of [
    ['DATA-A', 'data-a'],
    ['DATA-B', 'data-b'],
  ] as const) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await catalog.putEndpoint({
      endpointId,
      kind: 's3',
      bucket,
      prefix: '',
      sites: ['local'],
      readable: true,
      writable: true,
    });
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function gluon(...args: string[]): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
  return run.stdout;
}

async function createDataset(name: string): Promise<Did> {
  const did = { scope: SCOPE, name };
  await catalog.createDataset({
    ...did,
    state: 'open',
    owner: 'local-user',
    files: 0,
    bytes: 0,
    events: 0,
    metadata: {},
    createdAt: AT,
  });
  return did;
}

/** Uploads `content` to each bucket and registers the file with a replica at each endpoint. */
async function addFile(dataset: Did, name: string, content: string, endpoints: Array<'DATA-A' | 'DATA-B'>) {
  for (const endpointId of endpoints)
    await s3.send(new PutObjectCommand({ Bucket: endpointId.toLowerCase(), Key: name, Body: content }));
  const outcome = await catalog.registerFiles(
    [
      {
        file: {
          scope: SCOPE,
          name,
          bytes: Buffer.byteLength(content),
          adler32: adler32(content),
          metadata: {},
        },
        replicas: endpoints.map((endpointId) => ({
          scope: SCOPE,
          name,
          endpointId,
          state: 'available' as const,
          url: `s3://${endpointId.toLowerCase()}/${name}`,
          updatedAt: AT,
        })),
      },
    ],
    { dataset, registeredBy: 'local-user', at: AT },
  );
  expect(outcome.outcome).toBe('registered');
}

/** Reads every input file (their local names are in GLUON_INPUT_FILES) into out.txt. */
function reader(name: string, dataset: Did, inputs: Record<string, unknown> = {}) {
  return shellTask(name, 'for f in $(echo "$GLUON_INPUT_FILES" | tr , " "); do cat "$f"; done > out.txt', {
    events: undefined,
    split: { filesPerJob: 1 },
    inputs: { dataset: `${dataset.scope}:${dataset.name}`, ...inputs },
    outputs: ['out.txt'],
  });
}

describe('data-aware brokerage', () => {
  it('sends the jobs to the site close to the data, and gluon why says why', async () => {
    const dataset = await createDataset('near');
    await addFile(dataset, 'near-1.txt', 'one\n', ['DATA-A']);
    await addFile(dataset, 'near-2.txt', 'two\n', ['DATA-A']);
    await catalog.closeDataset(dataset, AT);

    const taskId = await api.submit(reader('near', dataset));
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('done');
    const jobs = await api.jobs(taskId);
    expect(jobs.map((j) => [j.state, j.siteId])).toEqual([
      ['finished', 'local'],
      ['finished', 'local'],
    ]);

    const why = JSON.parse(await gluon('why', taskId, '--json')) as TaskExplanation;
    expect(why.brokerage?.chosen.map((c) => c.siteId)).toEqual(['local']);
    expect(why.brokerage?.rejected).toContainEqual(
      expect.objectContaining({
        siteId: 'remote',
        filter: 'data',
        reason: `0/2 files of ${SCOPE}:near close, remote read not allowed`,
      }),
    );
    const text = await gluon('why', taskId);
    expect(text).toContain(
      `Data (${SCOPE}:near, 2 files, remote read not allowed): local: 2/2 files at DATA-A (close); remote: 0/2 files close, remote read not allowed.`,
    );
    const job = await gluon('why', taskId, '--job', '0');
    expect(job).toContain(`Job 0 reads 1 files of ${SCOPE}:near: local: 1/1 files at DATA-A (close).`);
  });
});

describe('stage-in from replicas', () => {
  it('falls back to the second replica when the first is corrupt, and the job finishes', async () => {
    const dataset = await createDataset('corrupt');
    await addFile(dataset, 'corrupt-1.txt', 'good data\n', ['DATA-A', 'DATA-B']);
    await catalog.closeDataset(dataset, AT);
    // The copy at DATA-A changes after its registration: its adler32 no longer matches.
    await s3.send(new PutObjectCommand({ Bucket: 'data-a', Key: 'corrupt-1.txt', Body: 'bad data!\n' }));

    const taskId = await api.submit(reader('corrupt', dataset));
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('done');
    const [job] = await api.jobs(taskId);
    expect(job).toMatchObject({ state: 'finished', attempt: 1 });
    const log = await gluon('logs', taskId, '--job', '0');
    expect(log).toMatch(
      /stage-in of user\.local-user:corrupt-1\.txt from DATA-A failed \(.*adler32.*\); trying DATA-B/,
    );
  });
});

describe('open datasets', () => {
  it('processes files registered while the task runs, and ends once the dataset is closed', async () => {
    const dataset = await createDataset('open');
    const taskId = await api.submit(reader('open', dataset, { untilClosed: true }));
    // No file yet: the task waits for one instead of ending.
    await addFile(dataset, 'open-1.txt', 'first\n', ['DATA-A']);
    await waitFor(
      async () => (await api.jobs(taskId)).some((j) => j.jobIndex === 0 && j.state === 'finished'),
      { what: 'the first file processed', timeoutMs: 90_000 },
    );
    expect((await api.task(taskId)).state).toBe('running');
    await addFile(dataset, 'open-2.txt', 'second\n', ['DATA-A']);
    await addFile(dataset, 'open-3.txt', 'third\n', ['DATA-A']);
    await waitFor(async () => (await api.jobs(taskId)).filter((j) => j.state === 'finished').length === 3, {
      what: 'the files registered later processed',
      timeoutMs: 90_000,
    });
    expect((await api.task(taskId)).state).toBe('running');
    await catalog.closeDataset(dataset, AT);

    const task = await api.finalTask(taskId, 60_000);
    expect(task).toMatchObject({ state: 'done', jobCount: 3 });
    const jobs = await api.jobs(taskId);
    expect(jobs.map((j) => [j.jobIndex, j.state, j.attempt])).toEqual([
      [0, 'finished', 1],
      [1, 'finished', 1],
      [2, 'finished', 1],
    ]);
  });
});
