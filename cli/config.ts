import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './cli-error.ts';
import { chooseProfile, profilesFilePath, readProfiles } from './profiles.ts';
import { discoverBearerToken, discoveryPlaces, readTokenFile } from './token-discovery.ts';

/** Where the CLI sends requests and with which bearer token. */
export interface CliConfig {
  apiUrl: string;
  token: string;
  /** Where each value came from, for `--help`-style diagnostics. */
  source: { apiUrl: ConfigSource; token: ConfigSource };
  /** The profile in use, if any. */
  profile?: string;
}

/** flag, environment, a profile, the local stack's file, or WLCG Bearer Token Discovery. */
export type ConfigSource = 'flag' | 'env' | 'profile' | 'file' | 'discovery';

export interface ConfigInputs {
  flags: { apiUrl?: string; token?: string; profile?: string };
  env: Record<string, string | undefined>;
  cwd: string;
  /** The user id of the `bt_u<uid>` token files (default: this process's). */
  uid?: number;
  /** Where the last discovery step looks (default /tmp). */
  tmpDir?: string;
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

/** `~/x` as a path under HOME. */
function expandHome(path: string, env: Record<string, string | undefined>): string {
  return path.startsWith('~/') && env.HOME ? join(env.HOME, path.slice(2)) : path;
}

type Candidate = [value: string | undefined, source: ConfigSource];

/**
 * Endpoint and token, each from the first source that gives one:
 *
 * - API URL: `--api-url`; the profile `--profile` names; `GLUON_API_URL`; the profile of
 *   `GLUON_PROFILE` or the config file's current one; the local stack's `.gluon/local.json`.
 * - token: `--token`; the `--profile` profile's token file; `GLUON_TOKEN`; the other profile's
 *   token file; local.json's token when the URL came from it; WLCG Bearer Token Discovery
 *   (BEARER_TOKEN, BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID); local.json's token.
 *
 * Throws a CliError (exit 2) saying how to fix it when either is missing.
 */
export function resolveConfig(inputs: ConfigInputs): CliConfig {
  const { env } = inputs;
  const profilesPath = profilesFilePath(env);
  const chosen = chooseProfile(inputs.flags.profile, env, readProfiles(profilesPath), profilesPath);
  const profileToken = (): string | undefined => {
    const file = chosen?.profile.tokenFile;
    if (file === undefined) return undefined;
    const token = readTokenFile(expandHome(file, env));
    // A profile's own token file must not be passed over for some other token found lying around.
    if (token === undefined) {
      throw new CliError(
        `profile ${chosen?.name} reads its token from ${file}, which is missing or empty (get a token, e.g. with htgettoken, or pass --token)`,
        { exitCode: 2 },
      );
    }
    return token;
  };
  let file: LocalFile | undefined;
  const localFile = (): LocalFile | undefined => {
    if (file === undefined) {
      const path = findLocalConfigFile(env, inputs.cwd);
      if (path !== undefined) file = readLocalFile(path);
    }
    return file;
  };
  const first = (candidates: Array<() => Candidate>): [string, ConfigSource] | undefined => {
    for (const candidate of candidates) {
      const [value, source] = candidate();
      if (value !== undefined && value !== '') return [value, source];
    }
    return undefined;
  };
  const explicit = chosen?.explicit === true;
  const apiUrl = first([
    () => [nonEmpty(inputs.flags.apiUrl), 'flag'],
    () => [explicit ? chosen?.profile.apiUrl : undefined, 'profile'],
    () => [nonEmpty(env.GLUON_API_URL), 'env'],
    () => [chosen?.profile.apiUrl, 'profile'],
    () => [localFile()?.apiUrl, 'file'],
  ]);
  const uid = inputs.uid === undefined ? process.getuid?.() : inputs.uid;
  const discovery = { env, uid, ...(inputs.tmpDir === undefined ? {} : { tmpDir: inputs.tmpDir }) };
  const token = first([
    () => [nonEmpty(inputs.flags.token), 'flag'],
    () => [explicit ? profileToken() : undefined, 'profile'],
    () => [nonEmpty(env.GLUON_TOKEN), 'env'],
    () => [chosen === undefined ? undefined : profileToken(), 'profile'],
    // The local stack's own token goes with its own URL, before any grid token found lying around.
    () => [apiUrl?.[1] === 'file' ? localFile()?.token : undefined, 'file'],
    () => [discoverBearerToken(discovery)?.token, 'discovery'],
    () => [localFile()?.token, 'file'],
  ]);
  const missing = [
    apiUrl === undefined ? 'API URL' : undefined,
    token === undefined ? 'token' : undefined,
  ].filter((m) => m !== undefined);
  if (apiUrl === undefined || token === undefined) {
    const local = localFile();
    const where =
      local === undefined
        ? `no ${LOCAL_CONFIG_DIR}/${LOCAL_CONFIG_FILE} found from ${inputs.cwd} upwards${env.GLUON_HOME ? ` or in GLUON_HOME=${env.GLUON_HOME}` : ''}`
        : `${local.path} has no ${missing.join(' or ')}`;
    const looked = token === undefined ? `; no bearer token in ${discoveryPlaces(discovery).join(', ')}` : '';
    throw new CliError(
      `no Gluon ${missing.join(' or ')} configured (${where}${looked}).\n` +
        'Start the local stack with `npm start` in the Gluon checkout, or set GLUON_API_URL and GLUON_TOKEN ' +
        '(or pass --api-url and --token), or choose a profile (`gluon config --help`).',
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
    ...(chosen === undefined ? {} : { profile: chosen.name }),
  };
}
