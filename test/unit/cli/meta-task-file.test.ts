import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '#cli/api-client.ts';
import { CliError } from '#cli/cli-error.ts';
import { readMetaTaskSpecFile, submitMetaTaskFile } from '#cli/meta-task-file.ts';

const CHAIN = join(import.meta.dirname, '../../../examples/zmumu/chain.yaml');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-meta-file-'));
  writeFileSync(join(dir, 'a.sh'), 'echo a > out.txt\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A meta-task spec file in the temporary folder. */
function specFile(name: string, spec: string): string {
  writeFileSync(join(dir, name), spec);
  return join(dir, name);
}

const node = (name: string, sandbox: string, extra = '') =>
  `  - name: ${name}\n    task:\n      payload: { command: sh, args: [a.sh], sandbox: [${sandbox}] }\n      outputs: [out.txt]\n${extra}`;

async function refusal(file: string): Promise<CliError> {
  const error = await readMetaTaskSpecFile(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(CliError);
  return error as CliError;
}

describe('readMetaTaskSpecFile', () => {
  it('reads chain.yaml and every node’s sandbox files, relative to the spec file', async () => {
    const local = await readMetaTaskSpecFile(CHAIN);
    const byNode = local.files.map((f) => `${f.node}.${f.kind}:${f.file.name}`);
    expect(byNode.sort()).toEqual(
      [
        '0.task:zmumu.mjs',
        '1.task:zmumu.mjs',
        '1.task:reco.mjs',
        '2.merge:zmumu.mjs',
        '2.merge:reco.mjs',
        '2.merge:concat.mjs',
        '3.task:zmumu.mjs',
        '3.task:reco.mjs',
        '3.task:histogram.mjs',
      ].sort(),
    );
    expect(local.files.every((f) => /^[0-9a-f]{64}$/.test(f.file.sha256) && f.file.bytes > 0)).toBe(true);
  });

  it('names the node and entry of a sandbox file that is not there, and of every other bad field', async () => {
    const file = specFile(
      'missing.yaml',
      `name: m\nshape: dag\nnodes:\n${node('a', 'a.sh', '      events: 1\n')}${node('b', 'nope.sh')}edges:\n  - { from: a, to: zz }\n`,
    );
    const error = await refusal(file);
    expect(error.exitCode).toBe(2);
    expect(error.issues.map((i) => i.field)).toEqual(
      expect.arrayContaining(['nodes[1].task.payload.sandbox[0]', 'edges[0].to']),
    );
    expect(error.issues.find((i) => i.field === 'nodes[1].task.payload.sandbox[0]')?.message).toMatch(
      /nope\.sh not found/,
    );
  });

  it('refuses a cycle, naming edges', async () => {
    const file = specFile(
      'cycle.yaml',
      `name: c\nshape: dag\nnodes:\n${node('a', 'a.sh')}${node('b', 'a.sh')}edges:\n  - { from: a, to: b }\n  - { from: b, to: a }\n`,
    );
    const error = await refusal(file);
    expect(error.issues).toEqual([{ field: 'edges', message: expect.stringMatching(/cycle/) }]);
  });

  it('says so for a file that is not there or not YAML', async () => {
    await expect(readMetaTaskSpecFile(join(dir, 'absent.yaml'))).rejects.toThrow(
      /meta-task spec file not found/,
    );
    const error = await refusal(specFile('bad.yaml', 'name: [unclosed\n'));
    expect(error.issues[0]?.field).toBe('bad.yaml');
  });
});

describe('submitMetaTaskFile', () => {
  it('uploads each distinct sandbox file once and submits the spec with the uploads in place', async () => {
    const requests: { method: string; url: string; body: unknown }[] = [];
    const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
      requests.push({ method: init?.method ?? 'GET', url, body });
      if (url.endsWith('/sandboxes')) {
        const files = (body as { files: { name: string; sha256: string; bytes: number }[] }).files;
        return Response.json(
          {
            files: files.map((f) => ({
              ...f,
              key: `sandbox/${f.sha256}/${f.name}`,
              uploadUrl: `http://127.0.0.1:1/put/${f.name}`,
            })),
          },
          { status: 201 },
        );
      }
      if (url.includes('/put/')) return new Response(null, { status: 200 });
      if (url.endsWith('/meta-tasks')) return Response.json({ metaTaskId: 'm-0123456789' }, { status: 201 });
      return new Response('{}', { status: 404 });
    }) as typeof globalThis.fetch;
    const client = new ApiClient({ apiUrl: 'http://127.0.0.1:1', token: 'tok', fetch });

    const submitted = await submitMetaTaskFile(client, CHAIN);

    expect(submitted.metaTaskId).toBe('m-0123456789');
    expect(submitted.uploaded.map((u) => u.name).sort()).toEqual([
      'concat.mjs',
      'histogram.mjs',
      'reco.mjs',
      'zmumu.mjs',
    ]);
    expect(requests.filter((r) => r.url.endsWith('/sandboxes'))).toHaveLength(1);
    expect(
      requests
        .filter((r) => r.method === 'PUT')
        .map((r) => r.url.split('/').pop())
        .sort(),
    ).toEqual(['concat.mjs', 'histogram.mjs', 'reco.mjs', 'zmumu.mjs']);
    const sent = requests.find((r) => r.url.endsWith('/meta-tasks'))?.body as {
      nodes: { task?: { payload: { sandbox: unknown[] } }; merge?: { payload: { sandbox: unknown[] } } }[];
    };
    const merge = sent.nodes[2]?.merge?.payload.sandbox as { name: string; key: string }[];
    expect(merge.map((f) => f.name)).toEqual(['zmumu.mjs', 'reco.mjs', 'concat.mjs']);
    expect(
      merge.every((f) => f.key === `sandbox/${(f as unknown as { sha256: string }).sha256}/${f.name}`),
    ).toBe(true);
    expect(
      sent.nodes.every((n) => (n.task ?? n.merge)?.payload.sandbox.every((e) => typeof e === 'object')),
    ).toBe(true);
  });
});
