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
