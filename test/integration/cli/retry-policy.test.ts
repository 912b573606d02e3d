import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetryPolicySummary, RetryPolicyView, TestRetryPolicyResponse } from '#core/api/retry-policy.ts';
import { createHandler as getRetryPolicy } from '#lambdas/policies/get-retry-policy/handler.ts';
import { createHandler as listRetryPolicyVersions } from '#lambdas/policies/list-retry-policy-versions/handler.ts';
import { createHandler as putRetryPolicy } from '#lambdas/policies/put-retry-policy/handler.ts';
import { createHandler as testRetryPolicy } from '#lambdas/policies/test-retry-policy/handler.ts';
import { type ApiServer, startApiServer } from '#local/api-server.ts';
import { createLocalAuth, LOCAL_USER_SUB } from '#local/auth.ts';
import { createHandlerHarness, type HandlerHarness, TEST_SITE } from '#test/support/handler-harness.ts';
import {
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  runAttempt,
  runningTask,
} from '../lambdas/task-flow.ts';

/** `gluon retry-policy …` against the real handlers, over DynamoDB Local, as an operator of the local stack. */
let h: HandlerHarness;
let server: ApiServer;
let dir: string;
let env: Record<string, string>;
let userToken: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gluon(args: string[], token = userToken): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(import.meta.dirname, '../../../cli/main.ts'), 'retry-policy', ...args],
      { cwd: dir, env: { ...env, GLUON_TOKEN: token }, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-retry-'));
  h = await createHandlerHarness();
  await h.addSite({ siteId: TEST_SITE, slot: { memoryMB: 8000 } });
  const auth = await createLocalAuth({ stateDir: join(dir, 'auth') });
  userToken = await auth.userToken();
  server = await startApiServer({
    port: 0,
    handlers: {
      'get-retry-policy': getRetryPolicy(h.deps),
      'list-retry-policy-versions': listRetryPolicyVersions(h.deps),
      'put-retry-policy': putRetryPolicy(h.deps),
      'test-retry-policy': testRetryPolicy(h.deps),
    },
    auth,
    log: () => {},
  });
  env = { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1', GLUON_API_URL: server.url };
  // A job of the local user failed for good on memory (maxAttempts 1): the replay has a failure to judge.
  const pilotId = await registerPilot(h);
  const running = await runningTask(h, generationSpec(1, { maxAttempts: 1 }), LOCAL_USER_SUB);
  await runAttempt(h, pilotId, refOf(nth(running.messages, 0)), { ...FAILED, pilotErrorCode: 1102 });
  await h.settleJobChanges();
});

afterAll(async () => {
  await server?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gluon retry-policy', () => {
  it('shows the built-in rules as YAML, version 0', async () => {
    const run = await gluon(['show']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe(
      '# retry rules version 0 (current): the built-in rules (no version stored)',
    );
    expect(run.stdout).toContain('name: out-of-memory');
    expect(run.stdout).toContain('type: retry-memory');
  });

  it('refuses a rule file with a rule that matches nothing and memory × 0, naming each field, exit 2, sending nothing', async () => {
    const bad = file(
      'bad.yaml',
      'rules:\n  - match: { pilotErrorCodes: [1102] }\n    action: { type: retry-memory, factor: 0 }\n  - match: {}\n    action: { type: retry }\n',
    );
    const run = await gluon(['set', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: invalid retry rules ${join(dir, 'bad.yaml')}`);
    expect(run.stderr).toContain('  rules.0.action.factor: must be more than 1');
    expect(run.stderr).toContain('  rules.1.match: a rule must match on something');
    expect(JSON.parse((await gluon(['show', '--json'])).stdout).version).toBe(0);
    expect((await gluon(['set', 'missing.yaml'])).stderr).toContain('rule file not found');
  });

  it('sets rules from YAML, shows them back, lists the versions; show --version 0 gives the built-in rules', async () => {
    const rules = file(
      'strict.yaml',
      'description: no retry on memory\nrules:\n  - name: oom\n    match: { pilotErrorCodes: [1102] }\n    action: { type: no-retry }\n',
    );
    const set = await gluon(['set', rules]);
    expect(set.stderr).toBe('');
    expect(set.stdout).toBe(
      'retry rules version 1 is current (1 rules); failures are decided by it within seconds\n',
    );

    const shown = await gluon(['show']);
    expect(shown.stdout.split('\n')[0]).toMatch(
      /^# retry rules version 1 \(current\): stored by local-user at \S+$/,
    );
    expect(shown.stdout).toContain('description: no retry on memory');
    // What `show` prints is a rule file `set` takes back (as version 2).
    file('again.yaml', shown.stdout);
    const again = JSON.parse((await gluon(['set', 'again.yaml', '--json'])).stdout) as RetryPolicyView;
    expect(again).toMatchObject({ version: 2, ruleSet: { description: 'no retry on memory' } });

    const versions = await gluon(['versions']);
    const lines = versions.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+CURRENT\s+CREATED\s+BY\s+RULES\s+DESCRIPTION$/);
    expect(lines[1]).toMatch(/^2\s+yes\s+\S+\s+local-user\s+1\s+no retry on memory$/);
    expect(lines[2]).toMatch(/^1\s+\S+\s+local-user\s+1\s+no retry on memory$/);
    expect(lines[3]).toMatch(/^0\s+-\s+-\s+3\s+the built-in rules$/);
    const json = JSON.parse((await gluon(['versions', '--json'])).stdout) as RetryPolicySummary[];
    expect(json.map((v) => v.version)).toEqual([2, 1, 0]);

    const builtIn = JSON.parse((await gluon(['show', '--version', '0', '--json'])).stdout) as RetryPolicyView;
    expect(builtIn).toMatchObject({ version: 0, current: false });
    const refused = await gluon(['show', '--version', 'two']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('expected a version');
  });

  it("tests proposed rules against the user's past failures: the memory kill is rescued with 1.5 × memory, spending no attempt", async () => {
    const proposed = file(
      'proposed.json',
      JSON.stringify({
        rules: [
          {
            match: { pilotErrorCodes: [1102] },
            action: { type: 'retry-memory', factor: 1.5, spendsAttempt: false },
          },
        ],
      }),
    );
    const run = await gluon(['test', proposed, '--limit', '5']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^Replayed 1 failures of 1 jobs in 1 tasks against the current rules \(version 2\):$/,
    );
    expect(lines).toContain(
      '  jobs rescued:             1  (the proposed rules retry where the current ones give up)',
    );
    expect(lines).toContain('  extra memory asked for:   +3000 MB');
    expect(run.stdout).toMatch(
      /\s0\s+rescued\s+1\s+1102\s+3\s+fail\s+retry-memory, 3000 MB, no attempt spent\s+\+3000\n/,
    );

    const json = JSON.parse((await gluon(['test', proposed, '--json'])).stdout) as TestRetryPolicyResponse;
    expect(json).toMatchObject({ jobsRescued: 1, extraMemoryMB: 3000, currentVersion: 2 });
    const badIds = await gluon(['test', proposed, '--tasks', 'job-7']);
    expect(badIds.code).toBe(2);
    expect(badIds.stderr).toContain('expected task ids');
  });
});
