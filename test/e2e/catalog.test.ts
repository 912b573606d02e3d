import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResponseOf } from '#core/api/operations.ts';
import type { LocalStack } from '#local/stack.ts';
import { adler32 } from '#pilot/adler32.ts';
import { Api, s3For, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

/**
 * The catalog end to end: a generation task's finished jobs' outputs are the files of its output
 * dataset (user.local-user:<name>.output), with the adler32 of the objects in the results bucket;
 * the dataset closes when the task ends; a job that failed once registers its finished attempt only.
 */
let stack: LocalStack;
let api: Api;
let s3: S3Client;
let taskId: string;
const NAME = `cat-gen-${Date.now().toString(36)}`;
const DATASET = `user.local-user:${NAME}.output`;

async function gluon(...args: string[]): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
  return run.stdout;
}

async function objectBytes(url: string): Promise<Buffer> {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (match === null) throw new Error(`not an s3 url: ${url}`);
  const out = await s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
  return Buffer.from(
    await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

beforeAll(async () => {
  stack = await startTestStack('catalog', {
    pilots: 2,
    inMemory: true,
    pilotIdleExitSec: 20,
    pilotArgs: ['--memory-mb', '2048'],
  });
  api = new Api(stack.apiUrl, stack.userToken);
  s3 = s3For(stack);
  // Job 1 fails its first attempt (after writing an output), then finishes.
  taskId = await api.submit(
    shellTask(
      NAME,
      'echo "job ${jobIndex} attempt ${attempt}" > out.txt; if [ "${jobIndex}" = 1 ] && [ "${attempt}" = 1 ]; then exit 3; fi',
      { events: 2, outputs: ['out.txt'], maxAttempts: 3 },
    ),
  );
  expect((await api.finalTask(taskId)).state).toBe('done');
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

describe('task outputs in the catalog', () => {
  it("lists the finished jobs' outputs in the output dataset, with the objects' adler32", async () => {
    const files = JSON.parse(
      await gluon('dataset', 'files', DATASET, '--json'),
    ) as ResponseOf<'listDatasetFiles'>;
    expect(files.items.map((f) => f.name).sort()).toEqual([
      `${NAME}.${taskId}._000000.out.txt`,
      `${NAME}.${taskId}._000001.out.txt`,
    ]);
    for (const file of files.items) {
      expect(file.events).toBe(1);
      expect(file.replicas).toHaveLength(1);
      const replica = file.replicas[0];
      expect(replica?.endpointId).toBe('GLUON-RESULTS');
      expect(replica?.state).toBe('available');
      const bytes = await objectBytes(replica?.url ?? '');
      expect(adler32(bytes)).toBe(file.adler32);
      expect(bytes.length).toBe(file.bytes);
    }
  });

  it("registers only the finished attempt's output of the job that failed once", async () => {
    const file = JSON.parse(
      await gluon('file', 'show', `user.local-user:${NAME}.${taskId}._000001.out.txt`, '--json'),
    ) as ResponseOf<'getFile'>;
    expect(file.adler32).toBe(adler32('job 1 attempt 2\n'));
    expect(file.replicas.map((r) => r.url)).toEqual([expect.stringContaining('/jobs/1/attempt-2/')]);
  });

  it('closes the dataset at the end of the task, with its totals', async () => {
    const dataset = await waitFor(
      async () => {
        const d = JSON.parse(await gluon('dataset', 'show', DATASET, '--json')) as ResponseOf<'getDataset'>;
        return d.state === 'closed' ? d : undefined;
      },
      { timeoutMs: 20_000, what: 'the output dataset closed' },
    );
    expect(dataset).toMatchObject({ files: 2, events: 2, taskId, owner: 'local-user' });
    const text = await gluon('dataset', 'list', '--scope', 'user.local-user', '--prefix', NAME);
    expect(text).toContain(DATASET);
    expect(text).toContain('closed');
  });

  it("refuses, before storing it, a task whose output dataset is outside the user's scopes", async () => {
    const reply = await api.post<{ error: { code: string; message: string } }>('/tasks', {
      ...shellTask(`${NAME}-x`, 'true'),
      outputDataset: 'user.someone-else:stolen',
    });
    expect(reply.status).toBe(403);
    expect(reply.body.error.message).toMatch(/^outputDataset: /);
  });
});
