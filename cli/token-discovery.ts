/**
 * WLCG Bearer Token Discovery (https://zenodo.org/records/3937438), as htgettoken, oidc-agent and
 * the grid clients use it: BEARER_TOKEN; else the file BEARER_TOKEN_FILE names; else
 * $XDG_RUNTIME_DIR/bt_u<uid>; else /tmp/bt_u<uid>. Surrounding whitespace is dropped. A step that
 * gives nothing (unset, missing or empty file) passes to the next.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './cli-error.ts';

export interface DiscoveredToken {
  token: string;
  /** Where it came from: `BEARER_TOKEN`, or the file read. */
  from: string;
}

export interface DiscoveryInputs {
  env: Record<string, string | undefined>;
  /** The numeric user id of the `bt_u<uid>` file names (`id -u`); no file step without one. */
  uid: number | undefined;
  /** The last step's directory (`/tmp`; tests give their own). */
  tmpDir?: string;
}

/** The token a file holds, or undefined when there is no such file or it is empty. */
export function readTokenFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CliError(`cannot read the token file ${path}: ${(error as Error).message}`, { exitCode: 2 });
  }
  const token = text.trim();
  return token === '' ? undefined : token;
}

/** The places discovery looks, in order (for messages: "looked in …"). */
export function discoveryPlaces(inputs: DiscoveryInputs): string[] {
  const { env, uid } = inputs;
  const places = ['BEARER_TOKEN'];
  if (nonEmpty(env.BEARER_TOKEN_FILE) !== undefined) places.push(env.BEARER_TOKEN_FILE as string);
  if (uid !== undefined) {
    const runtime = nonEmpty(env.XDG_RUNTIME_DIR);
    if (runtime !== undefined) places.push(join(runtime, `bt_u${uid}`));
    places.push(join(inputs.tmpDir ?? '/tmp', `bt_u${uid}`));
  }
  return places;
}

export function discoverBearerToken(inputs: DiscoveryInputs): DiscoveredToken | undefined {
  const fromEnv = nonEmpty(inputs.env.BEARER_TOKEN?.trim());
  if (fromEnv !== undefined) return { token: fromEnv, from: 'BEARER_TOKEN' };
  for (const path of discoveryPlaces(inputs).slice(1)) {
    const token = readTokenFile(path);
    if (token !== undefined) return { token, from: path };
  }
  return undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
