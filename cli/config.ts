import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './cli-error.ts';

/** Where the CLI sends requests and with which bearer token. */
export interface CliConfig {
  apiUrl: string;
  token: string;
  /** Where each value came from, for `--help`-style diagnostics. */
  source: { apiUrl: ConfigSource; token: ConfigSource };
}

export type ConfigSource = 'flag' | 'env' | 'file';

export interface ConfigInputs {
  flags: { apiUrl?: string; token?: string };
  env: Record<string, string | undefined>;
  cwd: string;
}

/** The file the local stack (`npm start`) writes: `.gluon/local.json`. */
export const LOCAL_CONFIG_DIR = '.gluon';
export const LOCAL_CONFIG_FILE = 'local.json';

interface LocalFile {
  path: string;
  apiUrl?: string;
  token?: string;
}

/**
 * Finds the local stack's `local.json`: in `GLUON_HOME` when set (the directory holding it),
 * otherwise in `.gluon/` of the working directory or the nearest parent that has one.
 */
export function findLocalConfigFile(
  env: Record<string, string | undefined>,
  cwd: string,
): string | undefined {
  const home = env.GLUON_HOME;
  if (home !== undefined && home !== '') {
    const path = join(resolve(cwd, home), LOCAL_CONFIG_FILE);
    return existsSync(path) ? path : undefined;
  }
  let dir = resolve(cwd);
  for (;;) {
    const path = join(dir, LOCAL_CONFIG_DIR, LOCAL_CONFIG_FILE);
    if (existsSync(path)) return path;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function readLocalFile(path: string): LocalFile {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, { exitCode: 2 });
  }
  if (typeof value !== 'object' || value === null) {
    throw new CliError(`${path} should hold a JSON object {"apiUrl": …, "token": …}`, { exitCode: 2 });
  }
  const record = value as Record<string, unknown>;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return { path, apiUrl: text(record.apiUrl), token: text(record.token) };
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * Endpoint and token, each from the first of: command-line flag, `GLUON_API_URL` / `GLUON_TOKEN`,
 * the local stack's `.gluon/local.json`. Throws a CliError (exit 2) saying how to fix it when
 * either is missing.
 */
export function resolveConfig(inputs: ConfigInputs): CliConfig {
  const flagUrl = nonEmpty(inputs.flags.apiUrl);
  const flagToken = nonEmpty(inputs.flags.token);
  const envUrl = nonEmpty(inputs.env.GLUON_API_URL);
  const envToken = nonEmpty(inputs.env.GLUON_TOKEN);
  let file: LocalFile | undefined;
  if ((flagUrl ?? envUrl) === undefined || (flagToken ?? envToken) === undefined) {
    const path = findLocalConfigFile(inputs.env, inputs.cwd);
    if (path !== undefined) file = readLocalFile(path);
  }
  const pick = (flag?: string, env?: string, fromFile?: string): [string, ConfigSource] | undefined => {
    if (flag !== undefined) return [flag, 'flag'];
    if (env !== undefined) return [env, 'env'];
    if (fromFile !== undefined) return [fromFile, 'file'];
    return undefined;
  };
  const apiUrl = pick(flagUrl, envUrl, file?.apiUrl);
  const token = pick(flagToken, envToken, file?.token);
  const missing = [
    apiUrl === undefined ? 'API URL' : undefined,
    token === undefined ? 'token' : undefined,
  ].filter((m) => m !== undefined);
  if (apiUrl === undefined || token === undefined) {
    const where =
      file === undefined
        ? `no ${LOCAL_CONFIG_DIR}/${LOCAL_CONFIG_FILE} found from ${inputs.cwd} upwards${inputs.env.GLUON_HOME ? ` or in GLUON_HOME=${inputs.env.GLUON_HOME}` : ''}`
        : `${file.path} has no ${missing.join(' or ')}`;
    throw new CliError(
      `no Gluon ${missing.join(' or ')} configured (${where}).\n` +
        'Start the local stack with `npm start` in the Gluon checkout, or set GLUON_API_URL and GLUON_TOKEN ' +
        '(or pass --api-url and --token).',
      { exitCode: 2 },
    );
  }
  try {
    new URL(apiUrl[0]);
  } catch {
    throw new CliError(`the API URL ${JSON.stringify(apiUrl[0])} (from ${apiUrl[1]}) is not a URL`, {
      exitCode: 2,
    });
  }
  return {
    apiUrl: apiUrl[0].replace(/\/+$/, ''),
    token: token[0],
    source: { apiUrl: apiUrl[1], token: token[1] },
  };
}
