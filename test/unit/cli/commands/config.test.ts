import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { CliIo } from '#cli/cli-io.ts';
import { runCli } from '#cli/program.ts';

let dir: string;
let configFile: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-config-cmd-'));
  configFile = join(dir, 'conf', 'gluon', 'config.yaml');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function gluon(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: { XDG_CONFIG_HOME: join(dir, 'conf'), ...env },
    cwd: dir,
    fetch: (() => Promise.reject(new Error('no network'))) as typeof fetch,
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

describe('gluon config', () => {
  it('sets profiles in $XDG_CONFIG_HOME/gluon/config.yaml (user-only), the first one current', async () => {
    expect((await gluon(['config', 'set', 'api-url', 'https://prod.example', '--profile', 'prod'])).out).toBe(
      'profile prod: api-url = https://prod.example (now current)\n',
    );
    expect((await gluon(['config', 'set', 'token-file', 'tok', '--profile', 'prod'])).code).toBe(0);
    expect((await gluon(['config', 'set', 'api-url', 'https://dev.example', '--profile', 'dev'])).code).toBe(
      0,
    );
    expect(parse(readFileSync(configFile, 'utf8'))).toEqual({
      current: 'prod',
      profiles: {
        prod: { apiUrl: 'https://prod.example', tokenFile: join(dir, 'tok') },
        dev: { apiUrl: 'https://dev.example' },
      },
    });
    expect(statSync(configFile).mode & 0o077).toBe(0);
  });

  it('gets a setting, lists the profiles marking the current one, and switches with use', async () => {
    await gluon(['config', 'set', 'api-url', 'https://prod.example', '--profile', 'prod']);
    await gluon(['config', 'set', 'api-url', 'https://dev.example', '--profile', 'dev']);
    expect((await gluon(['config', 'get', 'api-url'])).out).toBe('https://prod.example\n');
    expect((await gluon(['config', 'get', 'api-url'], { GLUON_PROFILE: 'dev' })).out).toBe(
      'https://dev.example\n',
    );
    expect((await gluon(['config', 'use', 'dev'])).out).toBe('current profile: dev\n');
    const list = (await gluon(['config', 'list'])).out.split('\n');
    expect(list[0]).toMatch(/PROFILE\s+API URL\s+TOKEN FILE/);
    expect(list.find((l) => l.includes('dev'))).toMatch(/^\*\s+dev\s+https:\/\/dev\.example/);
    expect(list.find((l) => l.includes('prod'))).toMatch(/^\s+prod\s+https:\/\/prod\.example/);
  });

  it('shows what a command would use and from where, never the token', async () => {
    await gluon(['config', 'set', 'api-url', 'https://prod.example', '--profile', 'prod']);
    const shown = await gluon(['config', 'show', '--json'], { BEARER_TOKEN: 'secret-token' });
    expect(JSON.parse(shown.out)).toEqual({
      profile: 'prod',
      apiUrl: 'https://prod.example',
      source: { apiUrl: 'profile', token: 'discovery' },
    });
    expect(shown.out).not.toContain('secret-token');
  });

  it.each([
    [
      ['config', 'set', 'api-url', 'ftp://x', '--profile', 'p'],
      2,
      /invalid api-url for profile p[\s\S]*api-url:/,
    ],
    [['config', 'set', 'token-file', '/t', '--profile', 'p'], 2, /profile p has no api-url yet/],
    [['config', 'set', 'colour', 'red', '--profile', 'p'], 2, /expected one of: api-url, token-file/],
    [
      ['config', 'set', 'api-url', 'https://x.example', '--profile', 'bad name'],
      2,
      /expected a profile name/,
    ],
    [['config', 'set', 'api-url', 'https://x.example'], 2, /name the profile with --profile/],
    [['config', 'use', 'nope'], 2, /no profile nope/],
    [['tasks', '--profile', 'nope'], 2, /no profile "nope" \(from --profile\)/],
  ])('refuses %j with exit %i, writing nothing', async (args, code, message) => {
    const run = await gluon(args);
    expect(run.code).toBe(code);
    expect(run.err).toMatch(message);
    expect(() => statSync(configFile)).toThrow();
  });
});
