import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError } from '#cli/cli-error.ts';
import { findLocalConfigFile, resolveConfig } from '#cli/config.ts';

let root: string;
let deep: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-config-'));
  deep = join(root, 'a', 'b');
  mkdirSync(deep, { recursive: true });
  mkdirSync(join(root, '.gluon'));
  writeFileSync(
    join(root, '.gluon', 'local.json'),
    JSON.stringify({ apiUrl: 'http://127.0.0.1:1111/', token: 'file-token' }),
  );
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('resolveConfig', () => {
  it('reads .gluon/local.json found by walking up from the working directory', () => {
    const config = resolveConfig({ flags: {}, env: {}, cwd: deep });
    expect(config).toMatchObject({ apiUrl: 'http://127.0.0.1:1111', token: 'file-token' });
    expect(config.source).toEqual({ apiUrl: 'file', token: 'file' });
  });

  it('prefers the environment over the file', () => {
    const config = resolveConfig({
      flags: {},
      env: { GLUON_API_URL: 'http://127.0.0.1:2222', GLUON_TOKEN: 'env-token' },
      cwd: deep,
    });
    expect(config).toMatchObject({ apiUrl: 'http://127.0.0.1:2222', token: 'env-token' });
  });

  it('prefers flags over the environment and the file, field by field', () => {
    const config = resolveConfig({
      flags: { apiUrl: 'http://127.0.0.1:3333' },
      env: { GLUON_API_URL: 'http://127.0.0.1:2222', GLUON_TOKEN: 'env-token' },
      cwd: deep,
    });
    expect(config).toMatchObject({ apiUrl: 'http://127.0.0.1:3333', token: 'env-token' });
    expect(config.source).toEqual({ apiUrl: 'flag', token: 'env' });
  });

  it('takes the token from the file when only the URL is given elsewhere', () => {
    const config = resolveConfig({ flags: {}, env: { GLUON_API_URL: 'http://127.0.0.1:2222' }, cwd: deep });
    expect(config).toMatchObject({ apiUrl: 'http://127.0.0.1:2222', token: 'file-token' });
  });

  it('reads local.json from GLUON_HOME', () => {
    const home = join(root, 'elsewhere');
    mkdirSync(home);
    writeFileSync(
      join(home, 'local.json'),
      JSON.stringify({ apiUrl: 'http://127.0.0.1:4444', token: 'home-token' }),
    );
    const outside = mkdtempSync(join(tmpdir(), 'gluon-outside-'));
    try {
      const config = resolveConfig({ flags: {}, env: { GLUON_HOME: home }, cwd: outside });
      expect(config).toMatchObject({ apiUrl: 'http://127.0.0.1:4444', token: 'home-token' });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('fails with exit code 2 and tells the user to run npm start when nothing is configured', () => {
    const outside = mkdtempSync(join(tmpdir(), 'gluon-outside-'));
    try {
      expect(findLocalConfigFile({}, outside)).toBeUndefined();
      let caught: unknown;
      try {
        resolveConfig({ flags: {}, env: {}, cwd: outside });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CliError);
      expect((caught as CliError).exitCode).toBe(2);
      expect((caught as CliError).message).toContain('npm start');
      expect((caught as CliError).message).toContain('GLUON_API_URL');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('names the missing token when only the URL is known', () => {
    const outside = mkdtempSync(join(tmpdir(), 'gluon-outside-'));
    try {
      expect(() => resolveConfig({ flags: { apiUrl: 'http://127.0.0.1:1' }, env: {}, cwd: outside })).toThrow(
        /no Gluon token configured/,
      );
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('rejects an API URL that is not a URL', () => {
    expect(() => resolveConfig({ flags: { apiUrl: 'nope', token: 't' }, env: {}, cwd: deep })).toThrow(
      /is not a URL/,
    );
  });

  it('reports a broken local.json instead of ignoring it', () => {
    writeFileSync(join(root, '.gluon', 'local.json'), '{ not json');
    expect(() => resolveConfig({ flags: {}, env: {}, cwd: deep })).toThrow(/cannot read .*local\.json/);
  });
});

describe('resolveConfig with profiles and bearer token discovery', () => {
  let outside: string;
  let configFile: string;
  const tokenFile = () => join(outside, 'prod-token');

  beforeEach(() => {
    outside = mkdtempSync(join(tmpdir(), 'gluon-profiles-'));
    configFile = join(outside, 'config.yaml');
    writeFileSync(tokenFile(), 'prod-token\n');
    writeFileSync(join(outside, 'bt_u77'), 'discovered-token\n');
    writeFileSync(
      configFile,
      [
        'current: dev',
        'profiles:',
        `  prod: { apiUrl: "https://prod.example", tokenFile: "${tokenFile()}" }`,
        '  dev: { apiUrl: "https://dev.example" }',
        '',
      ].join('\n'),
    );
  });

  afterEach(() => rmSync(outside, { recursive: true, force: true }));

  const resolve = (
    flags: { apiUrl?: string; token?: string; profile?: string },
    env: Record<string, string>,
  ) =>
    resolveConfig({
      flags,
      env: { GLUON_CONFIG: configFile, ...env },
      cwd: outside,
      uid: 77,
      tmpDir: outside,
    });

  it.each<[string, Parameters<typeof resolve>[0], Record<string, string>, string, string, string, string]>([
    // what, flags, env, apiUrl, its source, token, its source
    [
      'the current profile, the token discovered',
      {},
      {},
      'https://dev.example',
      'profile',
      'discovered-token',
      'discovery',
    ],
    [
      'GLUON_PROFILE over current',
      {},
      { GLUON_PROFILE: 'prod' },
      'https://prod.example',
      'profile',
      'prod-token',
      'profile',
    ],
    [
      '--profile over GLUON_PROFILE',
      { profile: 'prod' },
      { GLUON_PROFILE: 'dev' },
      'https://prod.example',
      'profile',
      'prod-token',
      'profile',
    ],
    [
      '--profile over GLUON_API_URL and GLUON_TOKEN',
      { profile: 'prod' },
      { GLUON_API_URL: 'https://env.example', GLUON_TOKEN: 'env-token' },
      'https://prod.example',
      'profile',
      'prod-token',
      'profile',
    ],
    [
      'GLUON_API_URL and GLUON_TOKEN over the current profile',
      {},
      { GLUON_API_URL: 'https://env.example', GLUON_TOKEN: 'env-token', GLUON_PROFILE: 'prod' },
      'https://env.example',
      'env',
      'env-token',
      'env',
    ],
    [
      'flags over everything',
      { apiUrl: 'https://flag.example', token: 'flag-token', profile: 'prod' },
      { BEARER_TOKEN: 'bt' },
      'https://flag.example',
      'flag',
      'flag-token',
      'flag',
    ],
    [
      'BEARER_TOKEN over the bt_u file',
      {},
      { BEARER_TOKEN: 'bt' },
      'https://dev.example',
      'profile',
      'bt',
      'discovery',
    ],
    [
      "the profile's token file over BEARER_TOKEN",
      { profile: 'prod' },
      { BEARER_TOKEN: 'bt' },
      'https://prod.example',
      'profile',
      'prod-token',
      'profile',
    ],
  ])('takes %s', (_what, flags, env, apiUrl, urlSource, token, tokenSource) => {
    const config = resolve(flags, env);
    expect(config).toMatchObject({ apiUrl, token, source: { apiUrl: urlSource, token: tokenSource } });
  });

  it('names the profile in use', () => {
    expect(resolve({ profile: 'prod' }, {}).profile).toBe('prod');
    expect(resolve({}, {}).profile).toBe('dev');
  });

  it('refuses an unknown profile, naming the known ones, exit 2', () => {
    const error = (() => {
      try {
        resolve({ profile: 'nope' }, {});
      } catch (e) {
        return e as CliError;
      }
    })();
    expect(error).toBeInstanceOf(CliError);
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toMatch(/no profile "nope" \(from --profile\).*known: prod, dev/);
  });

  it('refuses a profile whose token file is missing rather than sending another token', () => {
    rmSync(tokenFile());
    expect(() => resolve({ profile: 'prod' }, { BEARER_TOKEN: 'bt' })).toThrow(
      /profile prod reads its token from/,
    );
  });

  it('reports a bad config file naming the field', () => {
    writeFileSync(configFile, 'profiles:\n  prod: { apiUrl: "not a url" }\n');
    const error = (() => {
      try {
        resolve({}, {});
      } catch (e) {
        return e as CliError;
      }
    })();
    expect(error?.message).toContain('invalid Gluon config file');
    expect(error?.issues.map((i) => i.field)).toEqual(['profiles.prod.apiUrl']);
  });

  it("uses the local stack's token with its URL, before a bearer token found lying around", () => {
    writeFileSync(configFile, 'profiles: {}\n');
    const local = (env: Record<string, string>) =>
      resolveConfig({
        flags: {},
        env: { GLUON_CONFIG: configFile, ...env },
        cwd: deep,
        uid: 77,
        tmpDir: outside,
      });
    expect(local({ BEARER_TOKEN: 'bt' })).toMatchObject({
      apiUrl: 'http://127.0.0.1:1111',
      token: 'file-token',
      source: { apiUrl: 'file', token: 'file' },
    });
    expect(local({ BEARER_TOKEN: 'bt', GLUON_API_URL: 'https://env.example' })).toMatchObject({
      token: 'bt',
      source: { apiUrl: 'env', token: 'discovery' },
    });
  });
});
