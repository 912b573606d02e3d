/**
 * The `gluon` command without this repository: `npm run build:cli`'s bundle run by the machine's
 * stock Node 20 (/usr/bin/node, not the project's Node 22), and its package installed with
 * `npm install -g` from the tarball `npm pack` makes. One real call goes to a fake API, the token
 * found the WLCG Bearer Token Discovery way.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '#cli/build/build-cli.ts';
import { FakeApi, TASK_ID, TOKEN } from './fake-api.ts';

/** The machine's own Node, first on PATH, so nothing of the project's Node 22 is used. */
const STOCK_NODE = '/usr/bin/node';
const STOCK_PATH = '/usr/bin:/bin';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: Record<string, string> = {}, cwd = dir): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { PATH: STOCK_PATH, HOME: dir, NO_COLOR: '1', ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
let bundle: string;
let packageDir: string;
let api: FakeApi;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-standalone-'));
  const built = await buildCli(join(dir, 'package'));
  bundle = built.bin;
  packageDir = built.dir;
  api = await new FakeApi().start();
});

afterAll(async () => {
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the standalone gluon bundle', () => {
  it('runs on the stock Node 20: --help and --version', async () => {
    const node = await run(STOCK_NODE, ['--version']);
    expect(node.stdout).toMatch(/^v20\./);
    const help = await run(STOCK_NODE, [bundle, '--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: gluon');
    expect(help.stdout).toMatch(/config\s+deployment profiles/);
    expect((await run(STOCK_NODE, [bundle, '--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('submits a task to the API with a token from BEARER_TOKEN_FILE and a profile from the config file', async () => {
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    writeFileSync(
      join(dir, 'task.json'),
      JSON.stringify({
        name: 'standalone',
        payload: { command: 'true' },
        events: 4,
        split: { eventsPerJob: 2 },
      }),
    );
    const config = join(dir, 'config.yaml');
    const env = { GLUON_CONFIG: config, BEARER_TOKEN_FILE: join(dir, 'token') };
    expect(
      (await run(STOCK_NODE, [bundle, 'config', 'set', 'api-url', api.url, '--profile', 'fake'], env)).code,
    ).toBe(0);

    const submitted = await run(STOCK_NODE, [bundle, 'submit', 'task.json', '--json'], env);

    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    expect(JSON.parse(submitted.stdout)).toMatchObject({ taskId: TASK_ID, state: 'submitted' });
    const [call] = api.calls('submitTask');
    expect(call?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(call?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('installs with npm install -g from the packed tarball and runs as `gluon`', async () => {
    const npmEnv = { npm_config_cache: join(dir, 'npm-cache'), npm_config_update_notifier: 'false' };
    const packed = await run('/usr/bin/npm', ['pack', packageDir, '--pack-destination', dir], npmEnv);
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = join(dir, packed.stdout.trim().split('\n').at(-1) ?? '');
    const prefix = join(dir, 'prefix');
    const installed = await run(
      '/usr/bin/npm',
      ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball],
      npmEnv,
    );
    expect(installed.code, installed.stderr).toBe(0);

    const help = await run(join(prefix, 'bin', 'gluon'), ['config', '--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/WLCG Bearer Token\s+Discovery/);
  });
});
