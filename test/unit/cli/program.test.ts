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

function capture(env: Record<string, string> = {}): Captured {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env,
    cwd: dir,
    fetch: () => Promise.reject(new Error('no network in unit tests')),
  };
  return { io, out: () => out, err: () => err };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('option parsing', () => {
  it('rejects a job state that does not exist with exit 2 and the allowed ones', async () => {
    const c = capture();
    expect(await runCli(['jobs', 't-abcdefgh', '--state', 'bogus'], c.io)).toBe(2);
    expect(c.err()).toContain(
      'Allowed choices are defined, queued, starting, running, finished, failed, cancelled',
    );
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
    const c = capture({ GLUON_API_URL: 'http://127.0.0.1:9', GLUON_TOKEN: 't' });
    expect(await runCli(['status', 'my-task'], c.io)).toBe(2);
    expect(c.err()).toContain('"my-task" is not a task id');
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
});

describe('help', () => {
  it('lists every command', async () => {
    const c = capture();
    expect(await runCli(['--help'], c.io)).toBe(0);
    for (const command of ['submit', 'status', 'tasks', 'jobs', 'pilots', 'cancel'])
      expect(c.out()).toContain(command);
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
    for (const command of ['submit', 'status', 'tasks', 'jobs', 'pilots', 'cancel']) {
      const c = capture();
      expect(await runCli([command, '--help'], c.io)).toBe(0);
      expect(c.out()).toContain('--json');
      expect(c.out()).toContain('--api-url');
      expect(c.out()).toContain('--token');
    }
  });
});

describe('submit, checked locally', () => {
  it('lists every bad field of a spec and exits 2 without calling the API', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'name: "bad name!"\npayload: { args: [] }\nevents: 10\nresources: { memoryMB: 1 }\nmaxAttempts: 0\n',
    );
    const c = capture({ GLUON_API_URL: 'http://127.0.0.1:9', GLUON_TOKEN: 't' });
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
    const c = capture({ GLUON_API_URL: 'http://127.0.0.1:9', GLUON_TOKEN: 't' });
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
