import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '#cli/cli-io.ts';
import { runCli } from '#cli/program.ts';

interface Captured {
  io: CliIo;
  out: () => string;
  err: () => string;
}

let dir: string;

const noNetwork = (() => Promise.reject(new Error('no network in unit tests'))) as typeof fetch;

/** The CLI's streams captured; requests go to `fetch` (none allowed by default). */
function capture(env: Record<string, string> = {}, fetch: typeof globalThis.fetch = noNetwork): Captured {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env,
    cwd: dir,
    fetch,
  };
  return { io, out: () => out, err: () => err };
}

const API = { GLUON_API_URL: 'http://127.0.0.1:9', GLUON_TOKEN: 't' };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('option parsing', () => {
  it('rejects a job state that does not exist with exit 2 and the allowed ones', async () => {
    const c = capture();
    expect(await runCli(['jobs', 't-abcdefgh', '--state', 'bogus'], c.io)).toBe(2);
    expect(c.err()).toContain('Allowed choices are defined, queued, running, finished, failed, cancelled.');
  });

  it('rejects a limit that is not a whole number ≥ 1', async () => {
    const c = capture();
    expect(await runCli(['jobs', 't-abcdefgh', '--limit', '0'], c.io)).toBe(2);
    expect(c.err()).toContain("option '--limit <n>' argument '0' is invalid");
  });

  it('rejects a watch interval that is not positive', async () => {
    const c = capture();
    expect(await runCli(['status', 't-abcdefgh', '--watch', '--interval', '-1'], c.io)).toBe(2);
  });

  it('wants a task id for status', async () => {
    const c = capture();
    expect(await runCli(['status'], c.io)).toBe(2);
    expect(c.err()).toContain("missing required argument 'task'");
  });

  it('rejects something that cannot be a task id before calling the API', async () => {
    const c = capture(API);
    expect(await runCli(['status', 'my-task'], c.io)).toBe(2);
    expect(c.err()).toContain('"my-task" is not a task id');
  });

  it('rejects a job index that is not a whole number ≥ 0, naming the argument, before calling the API', async () => {
    for (const bad of ['-1', '1.5', 'x', '']) {
      const c = capture(API);
      expect(await runCli(['job', 't-abcdefgh', bad], c.io), bad).toBe(2);
      expect(c.err(), bad).toContain(
        `command-argument value '${bad}' is invalid for argument 'index'. expected a job index, a whole number ≥ 0.`,
      );
    }
    const missing = capture(API);
    expect(await runCli(['job', 't-abcdefgh'], missing.io)).toBe(2);
    expect(missing.err()).toContain("missing required argument 'index'");
    const task = capture(API);
    expect(await runCli(['job', 'my-task', '0'], task.io)).toBe(2);
    expect(task.err()).toContain('"my-task" is not a task id');
  });

  it('rejects an unknown command', async () => {
    const c = capture();
    expect(await runCli(['frobnicate'], c.io)).toBe(2);
    expect(c.err()).toContain("unknown command 'frobnicate'");
  });

  it('rejects an unknown option', async () => {
    const c = capture();
    expect(await runCli(['tasks', '--colour'], c.io)).toBe(2);
    expect(c.err()).toContain("unknown option '--colour'");
  });

  it('explains how to configure the endpoint when nothing is configured', async () => {
    const c = capture();
    expect(await runCli(['tasks'], c.io)).toBe(2);
    expect(c.err()).toContain('npm start');
    expect(c.err()).not.toMatch(/\n\s+at /);
  });

  it('rejects a site kind or a slot size that cannot be', async () => {
    const kind = capture();
    expect(await runCli(['site-put', 'grid-a', '--kind', 'moon'], kind.io)).toBe(2);
    expect(kind.err()).toContain('Allowed choices are local, grid, hpc, cloud.');
    const cores = capture();
    expect(await runCli(['site-put', 'grid-a', '--cores', '-1'], cores.io)).toBe(2);
    expect(cores.err()).toContain("option '--cores <n>' argument '-1' is invalid");
  });
});

describe('site-put of a cloud site', () => {
  it('refuses an instance type that fits no slot before asking the API, naming the field', async () => {
    const file = join(dir, 'cloud-small.yaml');
    writeFileSync(
      file,
      'kind: cloud\nslot: { cores: 4 }\nprovisioning:\n  type: ec2\n  instanceTypes: [{ type: m5.xlarge }, { type: c5.large }]\n' +
        '  subnets: [subnet-0123abcd]\n  maxInstances: 2\n  maxHourlyUsd: 1\n',
    );
    const c = capture(API);
    expect(await runCli(['site-put', 'aws', '--file', file], c.io)).toBe(2);
    expect(c.err()).toContain('provisioning.instanceTypes.1.type: c5.large fits no slot');
  });

  it('refuses a negative cap in the file, naming it', async () => {
    const file = join(dir, 'cloud-negative.yaml');
    writeFileSync(
      file,
      'kind: cloud\nprovisioning: { type: ec2, instanceTypes: [{ type: m5.large }], subnets: [subnet-0123abcd], maxInstances: -1, maxHourlyUsd: 1 }\n',
    );
    const c = capture(API);
    expect(await runCli(['site-put', 'aws', '--file', file], c.io)).toBe(2);
    expect(c.err()).toContain('provisioning.maxInstances');
  });

  it('refuses provisioning when --kind makes the site another kind', async () => {
    const file = join(dir, 'cloud-ok.yaml');
    writeFileSync(
      file,
      'kind: cloud\nprovisioning: { type: batch, jobQueue: gluon-pilots, jobDefinition: gluon-pilot }\n',
    );
    const c = capture(API);
    expect(await runCli(['site-put', 'aws', '--file', file, '--kind', 'grid'], c.io)).toBe(2);
    expect(c.err()).toContain('provisioning: only a site of kind cloud has provisioning');
  });

  it('documents cloud sites in its help', async () => {
    const c = capture();
    expect(await runCli(['site-put', '--help'], c.io)).toBe(0);
    for (const word of [
      'kind: cloud',
      'instanceTypes',
      'maxHourlyUsd',
      'type: batch',
      'examples/sites/cloud-ec2.yaml',
    ])
      expect(c.out()).toContain(word);
  });
});

describe('help', () => {
  it('lists every command', async () => {
    const c = capture();
    expect(await runCli(['--help'], c.io)).toBe(0);
    for (const command of [
      'submit',
      'status',
      'tasks',
      'jobs',
      'job',
      'pilots',
      'cancel',
      'why',
      'sites',
      'site-put',
    ])
      expect(c.out()).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('documents the spec format in submit --help', async () => {
    const c = capture();
    expect(await runCli(['submit', '--help'], c.io)).toBe(0);
    for (const word of [
      'payload:',
      'sandbox:',
      'eventsPerJob',
      'resources:',
      'maxAttempts',
      'outputs:',
      `\${firstEvent}`,
    ]) {
      expect(c.out()).toContain(word);
    }
  });

  it('documents --json, --api-url and --token on every command', async () => {
    for (const command of [
      'submit',
      'status',
      'tasks',
      'jobs',
      'job',
      'pilots',
      'cancel',
      'why',
      'sites',
      'site-put',
    ]) {
      const c = capture();
      expect(await runCli([command, '--help'], c.io)).toBe(0);
      expect(c.out()).toContain('--json');
      expect(c.out()).toContain('--api-url');
      expect(c.out()).toContain('--token');
    }
  });
});

describe('version and help texts', () => {
  it('explains the pilot error codes in job --help, with an example', async () => {
    const c = capture();
    expect(await runCli(['job', '--help'], c.io)).toBe(0);
    const text = c.out().replace(/\s+/g, ' ');
    for (const words of [
      '1001 payload failed',
      '1102 memory',
      '1304 pilot lost',
      'maxAttempts',
      'gluon job t-',
    ])
      expect(text).toContain(words);
  });

  it('prints the version of the package', async () => {
    const c = capture();
    expect(await runCli(['--version'], c.io)).toBe(0);
    expect(c.out()).toBe('0.1.0\n');
  });

  it('names the glyph of every job state the status bar draws, and no state that is gone', async () => {
    const c = capture();
    expect(await runCli(['status', '--help'], c.io)).toBe(0);
    const text = c.out().replace(/\s+/g, ' ');
    for (const [state, glyph] of [
      ['finished', '#'],
      ['failed', 'X'],
      ['cancelled', '/'],
      ['running', '>'],
      ['queued', '.'],
      ['defined', '(blank)'],
    ]) {
      expect(text).toContain(`${state} ${glyph}`);
    }
    expect(text).not.toContain('starting');
  });
});

describe('failures of the API', () => {
  it('prints an answer that does not match the API as unexpected, with no stack unless GLUON_DEBUG', async () => {
    const wrong = (async () => Response.json({ taskId: 't-abcdefgh' }, { status: 202 })) as typeof fetch;
    const c = capture(API, wrong);
    expect(await runCli(['cancel', 't-abcdefgh'], c.io)).toBe(1);
    expect(c.err()).toMatch(
      /^error: unexpected: POST \/tasks\/\{taskId\}\/cancel: the answer does not match the API \(/,
    );
    expect(c.err()).not.toMatch(/\n\s+at /);
    const debug = capture({ ...API, GLUON_DEBUG: '1' }, wrong);
    expect(await runCli(['cancel', 't-abcdefgh'], debug.io)).toBe(1);
    expect(debug.err()).toMatch(/\n\s+at /);
  });

  it('prints the answer of a cancel with --json', async () => {
    const answer = { taskId: 't-abcdefgh', state: 'running', cancelRequested: true };
    const c = capture(API, (async () => Response.json(answer, { status: 202 })) as typeof fetch);
    expect(await runCli(['cancel', 't-abcdefgh', '--json'], c.io)).toBe(0);
    expect(JSON.parse(c.out())).toEqual(answer);
  });
});

describe('submit, checked locally', () => {
  it('lists every bad field of a spec and exits 2 without calling the API', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'name: "bad name!"\npayload: { args: [] }\nevents: 10\nresources: { memoryMB: 1 }\nmaxAttempts: 0\n',
    );
    const c = capture(API);
    expect(await runCli(['submit', file], c.io)).toBe(2);
    expect(c.err()).toContain('spec.name:');
    expect(c.err()).toContain('spec.payload.command:');
    expect(c.err()).toContain('spec.maxAttempts:');
    expect(c.err()).toContain('spec.resources.memoryMB:');
  });

  it('names a sandbox file that does not exist', async () => {
    const file = join(dir, 'missing-sandbox.yaml');
    writeFileSync(
      file,
      'name: t\npayload: { command: node, sandbox: [nowhere.mjs] }\nevents: 10\nsplit: { eventsPerJob: 5 }\n',
    );
    const c = capture(API);
    expect(await runCli(['submit', file], c.io)).toBe(2);
    expect(c.err()).toContain('sandbox file nowhere.mjs not found');
    expect(c.err()).toContain(join(dir, 'nowhere.mjs'));
  });

  it('reports a missing sandbox file together with the other bad fields', async () => {
    const file = join(dir, 'two-problems.yaml');
    writeFileSync(
      file,
      'name: t\npayload: { command: node, sandbox: [gone.mjs] }\nevents: 10\nsplit: { eventsPerJob: 5 }\npriority: 5000\n',
    );
    const c = capture();
    expect(await runCli(['submit', file], c.io)).toBe(2);
    expect(c.err()).toContain('  spec.payload.sandbox.0: sandbox file gone.mjs not found');
    expect(c.err()).toContain('  spec.priority: ');
  });

  it('reports a YAML syntax error', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'name: [unclosed\n');
    const c = capture();
    expect(await runCli(['submit', file], c.io)).toBe(2);
    expect(c.err()).toContain('invalid task spec');
    expect(c.err()).toContain('broken.yaml:');
  });

  it('reports a spec file that does not exist', async () => {
    const c = capture();
    expect(await runCli(['submit', 'no-such.yaml'], c.io)).toBe(2);
    expect(c.err()).toContain(`task spec file not found: ${join(dir, 'no-such.yaml')}`);
  });
});
