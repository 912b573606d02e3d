import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi, TOKEN } from './fake-api.ts';

const RULE = {
  ruleId: 'r-0mx61zjqu05q1bg3qym5t',
  owner: 'alice',
  did: 'user.alice:zmumu-gen.output',
  didType: 'dataset',
  copies: 2,
  endpoints: ['DATA-A', 'DATA-B'],
  state: 'replicating',
  counters: { files: 3, available: 4, copying: 1, failed: 1 },
  createdAt: '2026-12-02T10:00:00.000Z',
  updatedAt: '2026-12-02T10:05:00.000Z',
};

let dir: string;
let api: FakeApi;

function gluon(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(import.meta.dirname, '../../../cli/main.ts'), ...args, '--api-url', api.url, '--token', TOKEN],
      { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1' }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        }),
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-rule-'));
  api = await new FakeApi().start();
});

afterAll(async () => {
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('gluon rule', () => {
  it('add sends the DID, copies and endpoints, and prints the rule', async () => {
    api.raw.set('addRule', { status: 201, body: RULE });
    const run = await gluon([
      'rule',
      'add',
      'user.alice:zmumu-gen.output',
      '--copies',
      '2',
      '--endpoints',
      'DATA-A,DATA-B',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const sent = api.requests.find((r) => r.operationId === 'addRule');
    expect(JSON.parse(sent?.body.toString() ?? '{}')).toEqual({
      did: 'user.alice:zmumu-gen.output',
      copies: 2,
      endpoints: ['DATA-A', 'DATA-B'],
    });
    expect(run.stdout).toContain(
      `rule ${RULE.ruleId} added: user.alice:zmumu-gen.output, 2 copies on DATA-A, DATA-B`,
    );
  });

  it('list prints each rule with its progress (available of all locks, copying, failed)', async () => {
    api.raw.set('listRules', { status: 200, body: { items: [RULE] } });
    const run = await gluon(['rule', 'list', '--did', 'user.alice:zmumu-gen.output']);
    expect(run.code).toBe(0);
    const [header, row] = run.stdout.trim().split('\n');
    expect(header).toMatch(/^RULE\s+DID\s+COPIES\s+STATE\s+OK\s+COPYING\s+FAILED\s+UPDATED$/);
    expect(row?.split(/\s+/)).toEqual([
      RULE.ruleId,
      RULE.did,
      '2@DATA-A,DATA-B',
      'replicating',
      '4/6',
      '1',
      '1',
      '2026-12-02',
      '10:05:00',
    ]);
    const sent = api.requests.find((r) => r.operationId === 'listRules');
    expect(sent?.query.get('did')).toBe('user.alice:zmumu-gen.output');
  });

  it('add prints the 400 naming copies and exits 1', async () => {
    api.raw.delete('addRule');
    api.refusals.set('addRule', {
      status: 400,
      code: 'INVALID_INPUT',
      message: 'invalid rule: copies: 3 copies asked for on 2 endpoint(s): at most one copy per endpoint',
      issues: [
        { field: 'copies', message: '3 copies asked for on 2 endpoint(s): at most one copy per endpoint' },
      ],
    });
    const run = await gluon(['rule', 'add', 'user.alice:ds', '--copies', '3', '--endpoints', 'A,B']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('copies: 3 copies asked for on 2 endpoint(s)');
  });

  it('refuses a DID without a scope before sending anything (exit 2)', async () => {
    const before = api.requests.length;
    const run = await gluon(['rule', 'add', 'no-scope', '--endpoints', 'A']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/scope:name/);
    expect(api.requests.length).toBe(before);
  });
});
