import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/common.ts';
import type { SandboxResponse } from '#core/api/tasks.ts';
import { createHandler } from '#lambdas/tasks/create-sandbox/handler.ts';
import {
  createHandlerHarness,
  type HandlerHarness,
  httpEvent,
  invokeHttp,
  issueFields,
} from '#test/support/handler-harness.ts';
import { USER_SCOPES } from '../task-flow.ts';

let h: HandlerHarness;

beforeAll(async () => {
  h = await createHandlerHarness();
});

afterAll(async () => {
  await h?.close();
});

function createSandbox(body: unknown, sub: string | null = 'alice') {
  return invokeHttp<SandboxResponse & ErrorBody>(
    createHandler(h.deps),
    httpEvent({ method: 'POST', path: '/sandboxes', body, sub, scopes: USER_SCOPES }),
  );
}

function fileOf(name: string, content: string) {
  return {
    name,
    sha256: createHash('sha256').update(content).digest('hex'),
    bytes: Buffer.byteLength(content),
  };
}

describe('create-sandbox handler', () => {
  it('gives presigned URLs that upload the files into the bucket', async () => {
    const script = '#!/bin/sh\necho "generating $GLUON_N_EVENTS events"\n';
    const card = 'process = pp > z > mu+ mu-\nnevents = 100\n';
    const files = [fileOf('run.sh', script), fileOf('card.dat', card)];

    const reply = await createSandbox({ files });

    expect(reply.statusCode).toBe(200);
    const owner = Buffer.from('alice').toString('hex');
    expect(reply.body.files).toEqual(
      files.map((f) => ({
        ...f,
        key: `sandboxes/${owner}/${f.sha256}/${f.name}`,
        uploadUrl: expect.stringContaining(`/${h.bucket}/sandboxes/${owner}/${f.sha256}/${f.name}?`),
      })),
    );

    for (const [i, content] of [script, card].entries()) {
      const file = reply.body.files[i];
      if (file === undefined) throw new Error(`no file ${i}`);
      expect(new URL(file.uploadUrl).hostname).toBe('127.0.0.1');
      const put = await fetch(file.uploadUrl, { method: 'PUT', body: content });
      expect(put.status).toBe(200);
      const got = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: file.key }));
      expect(await got.Body?.transformToString()).toBe(content);
    }
  });

  it('keys the same file of two users apart', async () => {
    const file = fileOf('run.sh', 'echo hi\n');
    const alice = await createSandbox({ files: [file] }, 'alice');
    const bob = await createSandbox({ files: [file] }, 'bob');
    expect(alice.body.files[0]?.key).not.toBe(bob.body.files[0]?.key);
    expect(bob.body.files[0]?.key).toBe(
      `sandboxes/${Buffer.from('bob').toString('hex')}/${file.sha256}/run.sh`,
    );
  });

  it('answers 400 naming every bad field', async () => {
    const reply = await createSandbox({
      files: [
        { name: '../etc/passwd', sha256: 'abc', bytes: 1 },
        { name: 'big.bin', sha256: 'a'.repeat(64), bytes: 60 * 1024 * 1024 },
      ],
    });
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['files.0.name', 'files.0.sha256', 'files.1.bytes']);

    const none = await createSandbox({ files: [] });
    expect(none.statusCode).toBe(400);
    expect(issueFields(none.body)).toEqual(['files']);
  });

  it('answers 401 to a token without a subject', async () => {
    const reply = await createSandbox({ files: [fileOf('a', 'b')] }, null);
    expect(reply.statusCode).toBe(401);
  });
});
