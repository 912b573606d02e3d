/**
 * The local batch plugin with real processes: a small stand-in pilot script records the command
 * line, environment and working directory it got, then waits for a signal.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BATCH_ID_PLACEHOLDER, type PilotJobSpec } from '#pilot/factory/batch-plugin.ts';
import { LocalProcessPlugin } from '#pilot/factory/local-plugin.ts';
import { createBatchPlugin } from '#pilot/factory/plugin-registry.ts';

/**
 * The stand-in pilot: handles SIGTERM first (it ends with 0, unless STUBBORN is set), then writes
 * what it got to <--work-dir>/seen.json, prints a line (to the log file) and waits.
 */
const PILOT_SCRIPT = `
process.on('SIGTERM', () => { if (!process.env.STUBBORN) process.exit(0); });
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const args = process.argv.slice(2);
const workDir = args[args.indexOf('--work-dir') + 1];
writeFileSync(join(workDir, 'seen.json'), JSON.stringify({
  args,
  cwd: process.cwd(),
  token: process.env.GLUON_PILOT_TOKEN,
  shared: process.env.SHARED,
  fromPlugin: process.env.FROM_PLUGIN,
}));
console.log('stand-in pilot ' + args[args.indexOf('--batch-id') + 1] + ' started');
setInterval(() => {}, 1000);
`;

let root: string;
let script: string;
let plugins: LocalProcessPlugin[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-local-plugin-'));
  script = join(root, 'pilot.cjs');
  writeFileSync(script, PILOT_SCRIPT);
  plugins = [];
});

afterEach(async () => {
  for (const plugin of plugins) await plugin.stopAll({ signal: 'SIGKILL', timeoutMs: 5000 });
  rmSync(root, { recursive: true, force: true });
});

function plugin(
  options: Partial<ConstructorParameters<typeof LocalProcessPlugin>[0]> = {},
): LocalProcessPlugin {
  const made = new LocalProcessPlugin({ workRoot: join(root, 'work'), ...options });
  plugins.push(made);
  return made;
}

function spec(overrides: Partial<PilotJobSpec> = {}): PilotJobSpec {
  return {
    jobName: 'gluon-pilot-local',
    command: [process.execPath, script, 'run', '--batch-id', BATCH_ID_PLACEHOLDER, '--idle-exit-sec', '30'],
    env: { GLUON_PILOT_TOKEN: 'the-token', SHARED: 'from-spec' },
    cores: 1,
    memoryMB: 1000,
    walltimeSec: 600,
    logDir: join(root, 'logs'),
    ...overrides,
  };
}

interface Seen {
  args: string[];
  cwd: string;
  token?: string;
  shared?: string;
  fromPlugin?: string;
}

async function seenBy(workDir: string): Promise<Seen> {
  const file = join(workDir, 'seen.json');
  await expect.poll(() => existsSync(file), { timeout: 10_000 }).toBe(true);
  await expect.poll(() => readFileSync(file, 'utf8'), { timeout: 5000 }).toMatch(/}$/);
  return JSON.parse(readFileSync(file, 'utf8')) as Seen;
}

describe('LocalProcessPlugin.submit', () => {
  it('starts one process per pilot with the batch id filled in and --work-dir appended', async () => {
    const local = plugin();
    const outcome = await local.submit(2, spec());
    expect(outcome).toEqual({ ids: ['1', '2'] });
    for (const id of ['1', '2']) {
      const seen = await seenBy(join(root, 'work', id));
      expect(seen.args).toEqual([
        'run',
        '--batch-id',
        id,
        '--idle-exit-sec',
        '30',
        '--work-dir',
        join(root, 'work', id),
      ]);
    }
    const processes = local.processes();
    expect(processes.map((p) => [p.id, p.jobName, p.alive])).toEqual([
      ['1', 'gluon-pilot-local', true],
      ['2', 'gluon-pilot-local', true],
    ]);
    expect(processes.every((p) => typeof p.pid === 'number')).toBe(true);
  });

  it('passes the spec’s variables over the plugin’s in the environment, never on the command line', async () => {
    const local = plugin({ env: { SHARED: 'from-plugin', FROM_PLUGIN: 'yes' }, cwd: root });
    await local.submit(1, spec());
    const seen = await seenBy(join(root, 'work', '1'));
    expect(seen).toMatchObject({ token: 'the-token', shared: 'from-spec', fromPlugin: 'yes', cwd: root });
    expect(seen.args.join(' ')).not.toContain('the-token');
  });

  it('writes each pilot’s output to pilot-<id>.log in the log directory', async () => {
    const local = plugin();
    await local.submit(1, spec());
    const logFile = join(root, 'logs', 'pilot-1.log');
    expect(local.processes()[0]?.logFile).toBe(logFile);
    await expect
      .poll(() => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''), { timeout: 10_000 })
      .toContain('stand-in pilot 1 started');
  });

  it('numbers pilots after the highest work directory when a plugin starts on a used work root', async () => {
    mkdirSync(join(root, 'work', '7'), { recursive: true });
    const local = plugin();
    expect(await local.submit(1, spec())).toEqual({ ids: ['8'] });
    await seenBy(join(root, 'work', '8'));
  });

  it('records a pilot whose command cannot start as ended, without failing the submission', async () => {
    const local = plugin();
    const outcome = await local.submit(1, spec({ command: [join(root, 'no-such-pilot'), 'run'] }));
    expect(outcome.ids).toEqual(['1']);
    await expect.poll(() => local.processes()[0]?.alive, { timeout: 10_000 }).toBe(false);
    expect(local.alive()).toEqual([]);
    expect(await local.list('gluon-pilot-local')).toEqual([]);
  });
});

describe('LocalProcessPlugin.list, cancel and kill', () => {
  it('lists the live pilots of a job name as running, and not those of another name', async () => {
    const local = plugin();
    await local.submit(2, spec());
    await local.submit(1, spec({ jobName: 'other-factory' }));
    expect(await local.list('gluon-pilot-local')).toEqual([
      { id: '1', state: 'running', rawState: 'RUNNING' },
      { id: '2', state: 'running', rawState: 'RUNNING' },
    ]);
    expect((await local.list('other-factory')).map((j) => j.id)).toEqual(['3']);
  });

  it('ends a pilot with SIGTERM when cancelled, and no longer lists it', async () => {
    const local = plugin();
    await local.submit(2, spec());
    await seenBy(join(root, 'work', '1'));
    await local.cancel('1');
    await expect.poll(() => local.alive().map((p) => p.id), { timeout: 10_000 }).toEqual(['2']);
    expect(local.processes()[0]).toMatchObject({ id: '1', alive: false, exitCode: 0 });
    expect(local.processes()[0]?.endedAt).toBeDefined();
    expect((await local.list('gluon-pilot-local')).map((j) => j.id)).toEqual(['2']);
  });

  it('signals one pilot by pid when it is ours and alive, and refuses any other pid', async () => {
    const local = plugin();
    await local.submit(1, spec());
    const pid = local.processes()[0]?.pid as number;
    expect(local.kill(process.pid, 'SIGTERM')).toBe(false);
    expect(local.kill(pid, 'SIGKILL')).toBe(true);
    await expect.poll(() => local.processes()[0]?.alive, { timeout: 10_000 }).toBe(false);
    expect(local.processes()[0]).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(local.kill(pid, 'SIGTERM')).toBe(false);
  });
});

describe('LocalProcessPlugin.stopAll', () => {
  it('ends every pilot with SIGTERM, and kills those that ignore it after the timeout', async () => {
    const local = plugin();
    await local.submit(1, spec());
    await local.submit(1, spec({ env: { STUBBORN: '1' } }));
    await seenBy(join(root, 'work', '1'));
    await seenBy(join(root, 'work', '2'));
    await local.stopAll({ timeoutMs: 500 });
    expect(local.alive()).toEqual([]);
    expect(local.processes().map((p) => [p.id, p.exitCode, p.signal])).toEqual([
      ['1', 0, null],
      ['2', null, 'SIGKILL'],
    ]);
  });
});

describe('createBatchPlugin', () => {
  it('makes the local plugin under its name, with the work root given', () => {
    const workRoot = join(root, 'registry-work');
    const made = createBatchPlugin('local', { workRoot });
    expect(made).toBeInstanceOf(LocalProcessPlugin);
    expect(made.name).toBe('local');
    expect(existsSync(workRoot)).toBe(true);
  });

  it('names the known plugins when asked for an unknown one', () => {
    expect(() => createBatchPlugin('lsf')).toThrow("no batch plugin 'lsf' (known: local, slurm)");
  });
});
