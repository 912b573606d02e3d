import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAuth, type LocalAuth, tokenScopes } from '#local/auth.ts';

let stateDir: string;
let auth: LocalAuth;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-auth-'));
  auth = await createLocalAuth({ stateDir });
});

afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('local JWT auth', () => {
  it('accepts a user token on a route that needs any one of its scopes', async () => {
    const token = await auth.userToken();
    const outcome = await auth.verifyRequest(`Bearer ${token}`, ['gluon.pilot', 'compute.read']);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.claims.sub).toBe('local-user');
    expect(outcome.claims.iss).toBe('gluon-local');
    expect(outcome.claims.aud).toBe('gluon');
    expect(outcome.scopes.sort()).toEqual([
      'compute.cancel',
      'compute.create',
      'compute.modify',
      'compute.read',
      'gluon.admin',
    ]);
  });

  it('gives pilots sub pilot:<siteId> and only gluon.pilot', async () => {
    const token = await auth.pilotToken('local');
    const ok = await auth.verifyRequest(`Bearer ${token}`, ['gluon.pilot']);
    expect(ok.ok && ok.claims.sub).toBe('pilot:local');
    const denied = await auth.verifyRequest(`Bearer ${token}`, ['compute.create']);
    expect(denied).toMatchObject({ ok: false, status: 403 });
  });

  it('answers 403 when the token has none of the required scopes', async () => {
    const token = await auth.mintToken({ sub: 'reader', scopes: ['compute.read'] });
    const outcome = await auth.verifyRequest(`Bearer ${token}`, ['compute.create', 'compute.cancel']);
    expect(outcome).toMatchObject({ ok: false, status: 403 });
  });

  it('needs no scope on a route that lists none', async () => {
    const token = await auth.mintToken({ sub: 'nobody', scopes: [] });
    expect((await auth.verifyRequest(`Bearer ${token}`, [])).ok).toBe(true);
  });

  it('answers 401 for a missing, malformed or expired token', async () => {
    expect(await auth.verifyRequest(undefined, ['compute.read'])).toMatchObject({ ok: false, status: 401 });
    expect(await auth.verifyRequest('Bearer ', ['compute.read'])).toMatchObject({ ok: false, status: 401 });
    expect(await auth.verifyRequest('Bearer not.a.jwt', ['compute.read'])).toMatchObject({
      ok: false,
      status: 401,
    });
    const expired = await auth.mintToken({ sub: 'u', scopes: ['compute.read'], ttlSec: -60 });
    const outcome = await auth.verifyRequest(`Bearer ${expired}`, ['compute.read']);
    expect(outcome).toMatchObject({ ok: false, status: 401, message: 'token expired' });
  });

  it('answers 401 for a token of another audience or issuer', async () => {
    const otherAudience = await createLocalAuth({ stateDir, audience: 'someone-else' });
    const token = await otherAudience.mintToken({ sub: 'u', scopes: ['compute.read'] });
    expect(await auth.verifyRequest(`Bearer ${token}`, ['compute.read'])).toMatchObject({
      ok: false,
      status: 401,
    });
    const otherIssuer = await createLocalAuth({ stateDir, issuer: 'https://elsewhere.example' });
    const token2 = await otherIssuer.mintToken({ sub: 'u', scopes: ['compute.read'] });
    expect(await auth.verifyRequest(`Bearer ${token2}`, ['compute.read'])).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('answers 401 for a token signed with another key', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ scope: 'compute.read' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('gluon-local')
      .setAudience('gluon')
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(privateKey);
    expect(await auth.verifyRequest(`Bearer ${forged}`, ['compute.read'])).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('reads scopes from scp as well as scope', () => {
    expect(tokenScopes({ scp: ['compute.read', 'gluon.pilot'] }).sort()).toEqual([
      'compute.read',
      'gluon.pilot',
    ]);
    expect(tokenScopes({ scp: 'compute.read' })).toEqual(['compute.read']);
    expect(tokenScopes({ scope: ' compute.read  compute.create ' }).sort()).toEqual([
      'compute.create',
      'compute.read',
    ]);
  });

  it('keeps one key pair in the state dir, readable by its owner only', async () => {
    const token = await auth.userToken();
    const again = await createLocalAuth({ stateDir });
    expect((await again.verifyRequest(`Bearer ${token}`, ['compute.read'])).ok).toBe(true);
    const keyFile = join(stateDir, 'jwt-key.json');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(keyFile, 'utf8'))).toMatchObject({ alg: 'ES256' });
  });

  it('accepts the token without the Bearer prefix, as API Gateway does', async () => {
    const token = await auth.userToken();
    expect((await auth.verifyRequest(token, ['compute.read'])).ok).toBe(true);
  });
});
