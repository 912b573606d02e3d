import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '#cli/api-client.ts';
import { CliError } from '#cli/cli-error.ts';
import { readTaskSpecFile, submitTaskFile, uploadSandbox } from '#cli/commands/submit.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-submit-'));
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
  writeFileSync(join(dir, 'lib', 'helper.py'), 'print(1)\n');
  writeFileSync(join(dir, 'lib', 'run.sh'), 'another run.sh\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function specFile(name: string, sandbox: unknown[], extra = ''): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `name: demo\npayload: { command: sh, args: [run.sh], sandbox: ${JSON.stringify(sandbox)} }\n` +
      `events: 10\nsplit: { eventsPerJob: 5 }\n${extra}`,
  );
  return file;
}

async function failure(promise: Promise<unknown>): Promise<CliError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(CliError);
  return error as CliError;
}

interface Sent {
  method: string;
  path: string;
  body: unknown;
  authorization: string | null;
}

/** An API that hands out upload URLs (leaving out the files named in `withoutUrl`) and takes tasks. */
function fakeApi(withoutUrl: string[] = []): { client: ApiClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body;
    sent.push({ method, path: url.pathname, body, authorization: headers.get('authorization') });
    if (url.pathname === '/sandboxes') {
      const { files } = body as { files: Array<{ name: string; sha256: string; bytes: number }> };
      return Response.json({
        files: files
          .filter((f) => !withoutUrl.includes(f.name))
          .map((f) => ({
            ...f,
            key: `sandboxes/alice/${f.sha256}/${f.name}`,
            uploadUrl: `http://store/${f.name}`,
          })),
      });
    }
    if (url.pathname === '/tasks') {
      return Response.json({ taskId: 't-abcdefgh', state: 'submitted', jobCount: 2 }, { status: 201 });
    }
    if (method === 'PUT') return new Response(null, { status: 200 });
    return Response.json({ error: { code: 'NOT_FOUND', message: 'no route' } }, { status: 404 });
  }) as typeof globalThis.fetch;
  return { client: new ApiClient({ apiUrl: 'http://api', token: 'tok', fetch }), sent };
}

describe('readTaskSpecFile', () => {
  it('reads and hashes sandbox files given as paths relative to the spec file', async () => {
    const file = specFile('paths.yaml', ['run.sh', 'lib/helper.py']);
    const local = await readTaskSpecFile('paths.yaml', dir);
    expect(local.path).toBe(file);
    expect(local.localFiles.map(({ content: _content, ...f }) => f)).toEqual([
      {
        index: 0,
        given: 'run.sh',
        path: join(dir, 'run.sh'),
        name: 'run.sh',
        sha256: sha256('#!/bin/sh\necho hi\n'),
        bytes: 18,
      },
      {
        index: 1,
        given: 'lib/helper.py',
        path: join(dir, 'lib', 'helper.py'),
        name: 'helper.py',
        sha256: sha256('print(1)\n'),
        bytes: 9,
      },
    ]);
  });

  it('refuses two sandbox files that would have the same name in the work directory', async () => {
    specFile('twice.yaml', ['run.sh', 'lib/run.sh']);
    const error = await failure(readTaskSpecFile('twice.yaml', dir));
    expect(error.exitCode).toBe(2);
    expect(error.issues).toEqual([
      {
        field: 'spec.payload.sandbox.1',
        message: "lib/run.sh and run.sh would both be run.sh in the job's work directory",
      },
    ]);
  });

  it('reports a missing sandbox file and the bad fields of the spec together', async () => {
    specFile('both.yaml', ['nowhere.sh'], 'priority: 5000\n');
    const error = await failure(readTaskSpecFile('both.yaml', dir));
    expect(error.issues.map((i) => i.field)).toEqual(['spec.payload.sandbox.0', 'spec.priority']);
    expect(error.issues[0]?.message).toBe(
      `sandbox file nowhere.sh not found: looked for ${join(dir, 'nowhere.sh')}`,
    );
  });

  it('refuses a sandbox entry that is a directory', async () => {
    specFile('dir.yaml', ['lib']);
    const error = await failure(readTaskSpecFile('dir.yaml', dir));
    expect(error.issues[0]?.message).toBe(`sandbox entry lib is not a regular file: ${join(dir, 'lib')}`);
  });

  it('refuses a file that is not a mapping', async () => {
    writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
    const error = await failure(readTaskSpecFile('list.yaml', dir));
    expect(error.issues).toEqual([
      { field: '(root)', message: 'expected a mapping with name, payload, events or inputs, …' },
    ]);
  });
});

describe('uploadSandbox and submitTaskFile', () => {
  it('uploads each file to its URL and submits the spec with keys in place of the paths', async () => {
    specFile('submit.yaml', ['run.sh', 'lib/helper.py']);
    const { client, sent } = fakeApi();
    const uploaded: string[] = [];
    const submitted = await submitTaskFile(client, 'submit.yaml', {
      cwd: dir,
      onUploaded: (f) => uploaded.push(f.name),
    });
    expect(uploaded).toEqual(['run.sh', 'helper.py']);
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /sandboxes',
      'PUT /run.sh',
      'PUT /helper.py',
      'POST /tasks',
    ]);
    expect(sent.filter((s) => s.method === 'PUT').map((s) => s.authorization)).toEqual([null, null]);
    const sandbox = [
      {
        name: 'run.sh',
        key: `sandboxes/alice/${sha256('#!/bin/sh\necho hi\n')}/run.sh`,
        sha256: sha256('#!/bin/sh\necho hi\n'),
        bytes: 18,
      },
      {
        name: 'helper.py',
        key: `sandboxes/alice/${sha256('print(1)\n')}/helper.py`,
        sha256: sha256('print(1)\n'),
        bytes: 9,
      },
    ];
    const submittedSpec = sent.at(-1)?.body as { payload: { sandbox: unknown } } | undefined;
    expect(submittedSpec?.payload.sandbox).toEqual(sandbox);
    expect(submitted).toMatchObject({
      taskId: 't-abcdefgh',
      state: 'submitted',
      jobCount: 2,
      uploaded: sandbox,
    });
    expect(submitted.spec.payload.sandbox).toEqual(sandbox);
  });

  it('fails naming the file the API gave no upload URL for, and submits nothing', async () => {
    specFile('no-url.yaml', ['run.sh', 'lib/helper.py']);
    const { client, sent } = fakeApi(['helper.py']);
    const local = await readTaskSpecFile('no-url.yaml', dir);
    const error = await failure(uploadSandbox(client, local));
    expect(error.message).toBe('the API gave no upload URL for sandbox file helper.py');
    expect(sent.some((s) => s.path === '/tasks')).toBe(false);
  });

  it('asks for no upload URL when the spec has no local files', async () => {
    specFile('none.yaml', []);
    const { client, sent } = fakeApi();
    const { spec, uploaded } = await uploadSandbox(client, await readTaskSpecFile('none.yaml', dir));
    expect(uploaded).toEqual([]);
    expect(spec.payload.sandbox).toEqual([]);
    expect(sent).toEqual([]);
  });
});
