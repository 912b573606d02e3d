import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CryptoKey,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { SCOPES } from '#core/api/index.ts';

/**
 * JWTs as the HTTP API JWT authorizer checks them, for the local stack: one ES256 key pair kept
 * in `<stateDir>/jwt-key.json`, issuer `gluon-local`, audience `gluon`. A route needs ANY ONE of
 * its scopes, read from the `scope` (space-separated) or `scp` claim.
 */
export const LOCAL_ISSUER = 'gluon-local';
export const LOCAL_AUDIENCE = 'gluon';
export const LOCAL_USER_SUB = 'local-user';
/** The local user is also the local operator (gluon.admin: define sites). */
export const USER_SCOPES: readonly string[] = [
  SCOPES.create,
  SCOPES.read,
  SCOPES.cancel,
  SCOPES.modify,
  SCOPES.admin,
];
export const PILOT_SCOPES: readonly string[] = [SCOPES.pilot];

const ALG = 'ES256';
const KEY_FILE = 'jwt-key.json';
/** Clock skew tolerated on exp/nbf, as API Gateway does (a few seconds). */
const CLOCK_TOLERANCE_SEC = 5;

export interface MintTokenOptions {
  sub: string;
  scopes: readonly string[];
  /** Lifetime in seconds (default 30 days: a local stack is a developer tool). */
  ttlSec?: number;
}

export type VerifyOutcome =
  | { ok: true; claims: JWTPayload; scopes: string[] }
  | { ok: false; status: 401 | 403; message: string };

export interface LocalAuth {
  readonly issuer: string;
  readonly audience: string;
  mintToken(options: MintTokenOptions): Promise<string>;
  /** A token for the local user (`local-user`, compute.create/read/cancel). */
  userToken(ttlSec?: number): Promise<string>;
  /** A token for pilots of a site (`pilot:<siteId>`, gluon.pilot). */
  pilotToken(siteId: string, ttlSec?: number): Promise<string>;
  /**
   * Checks an `Authorization` header value against the route's scopes (any one suffices; an empty
   * list means no scope is required). 401 for a missing, malformed, expired or foreign token,
   * 403 for a valid token without any of the scopes.
   */
  verifyRequest(authorization: string | undefined, requiredScopes: readonly string[]): Promise<VerifyOutcome>;
}

export interface LocalAuthOptions {
  /** Where `jwt-key.json` lives (created on first use, mode 0600). */
  stateDir: string;
  issuer?: string;
  audience?: string;
}

const DEFAULT_TTL_SEC = 30 * 24 * 3600;

export async function createLocalAuth(options: LocalAuthOptions): Promise<LocalAuth> {
  const issuer = options.issuer ?? LOCAL_ISSUER;
  const audience = options.audience ?? LOCAL_AUDIENCE;
  const { privateKey, publicKey } = await loadOrCreateKeyPair(options.stateDir);

  const mintToken = async ({ sub, scopes, ttlSec = DEFAULT_TTL_SEC }: MintTokenOptions): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: scopes.join(' ') })
      .setProtectedHeader({ alg: ALG, typ: 'JWT', kid: 'gluon-local' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(sub)
      .setIssuedAt(now)
      .setJti(randomUUID())
      .setExpirationTime(now + ttlSec)
      .sign(privateKey);
  };

  const verifyRequest = async (
    authorization: string | undefined,
    requiredScopes: readonly string[],
  ): Promise<VerifyOutcome> => {
    const token = bearerToken(authorization);
    if (token === undefined) return { ok: false, status: 401, message: 'missing bearer token' };
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, publicKey, {
        issuer,
        audience,
        algorithms: [ALG],
        clockTolerance: CLOCK_TOLERANCE_SEC,
      }));
    } catch (error) {
      return { ok: false, status: 401, message: describeJwtError(error) };
    }
    const scopes = tokenScopes(claims);
    if (requiredScopes.length > 0 && !requiredScopes.some((s) => scopes.includes(s))) {
      return { ok: false, status: 403, message: `token has none of the scopes ${requiredScopes.join(', ')}` };
    }
    return { ok: true, claims, scopes };
  };

  return {
    issuer,
    audience,
    mintToken,
    userToken: (ttlSec) => mintToken({ sub: LOCAL_USER_SUB, scopes: USER_SCOPES, ttlSec }),
    pilotToken: (siteId, ttlSec) => mintToken({ sub: `pilot:${siteId}`, scopes: PILOT_SCOPES, ttlSec }),
    verifyRequest,
  };
}

/** The token of an `Authorization` header; API Gateway accepts it with or without `Bearer `. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const match = /^Bearer\s+(\S+)$/i.exec(value);
  const token = match?.[1] ?? (/\s/.test(value) ? undefined : value);
  return token === undefined || token === '' ? undefined : token;
}

/** Scopes from `scope` (space-separated string) and `scp` (string or array), as the authorizer reads them. */
export function tokenScopes(claims: JWTPayload): string[] {
  const found = new Set<string>();
  const add = (value: unknown): void => {
    if (typeof value === 'string') for (const s of value.split(/\s+/)) if (s !== '') found.add(s);
    if (Array.isArray(value)) for (const v of value) if (typeof v === 'string' && v !== '') found.add(v);
  };
  add(claims.scope);
  add(claims.scp);
  return [...found];
}

function describeJwtError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed)
    return `token rejected: ${error.claim} claim check failed`;
  if (error instanceof errors.JOSEError) return `invalid token (${error.code})`;
  return 'invalid token';
}

interface StoredKeyPair {
  alg: typeof ALG;
  privateJwk: JWK;
  publicJwk: JWK;
}

async function loadOrCreateKeyPair(
  stateDir: string,
): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  const path = join(stateDir, KEY_FILE);
  let stored: StoredKeyPair | undefined;
  try {
    stored = JSON.parse(await readFile(path, 'utf8')) as StoredKeyPair;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read the local JWT key ${path}: ${(error as Error).message}`);
    }
  }
  if (stored === undefined) {
    const pair = await generateKeyPair(ALG, { extractable: true });
    stored = {
      alg: ALG,
      privateJwk: await exportJWK(pair.privateKey),
      publicJwk: await exportJWK(pair.publicKey),
    };
    await mkdir(stateDir, { recursive: true });
    const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    try {
      // link() publishes the complete file atomically and fails if another process was first.
      await link(tmp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      stored = JSON.parse(await readFile(path, 'utf8')) as StoredKeyPair;
    } finally {
      await unlink(tmp);
    }
  }
  const privateKey = await importJWK(stored.privateJwk, ALG);
  const publicKey = await importJWK(stored.publicJwk, ALG);
  if (privateKey instanceof Uint8Array || publicKey instanceof Uint8Array) {
    throw new Error(`the local JWT key ${path} is not an ${ALG} key pair`);
  }
  return { privateKey, publicKey };
}
