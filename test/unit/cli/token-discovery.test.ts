import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverBearerToken, discoveryPlaces } from '#cli/token-discovery.ts';

let root: string;
let runtime: string;
let tmp: string;
const UID = 4242;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-bt-'));
  runtime = join(root, 'run');
  tmp = join(root, 'tmp');
  mkdirSync(runtime);
  mkdirSync(tmp);
  writeFileSync(join(root, 'token-file'), '  from-token-file\n');
  writeFileSync(join(runtime, `bt_u${UID}`), 'from-runtime-dir\n');
  writeFileSync(join(tmp, `bt_u${UID}`), 'from-tmp\n');
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('discoverBearerToken (WLCG Bearer Token Discovery)', () => {
  it.each<
    [string, (r: { root: string; runtime: string }) => Record<string, string>, string | undefined, string]
  >([
    [
      'BEARER_TOKEN first',
      (r) => ({
        BEARER_TOKEN: ' env-token ',
        BEARER_TOKEN_FILE: join(r.root, 'token-file'),
        XDG_RUNTIME_DIR: r.runtime,
      }),
      'env-token',
      'BEARER_TOKEN',
    ],
    [
      'then the file BEARER_TOKEN_FILE names, trimmed',
      (r) => ({ BEARER_TOKEN_FILE: join(r.root, 'token-file'), XDG_RUNTIME_DIR: r.runtime }),
      'from-token-file',
      'token-file',
    ],
    [
      'then $XDG_RUNTIME_DIR/bt_u<uid>',
      (r) => ({ XDG_RUNTIME_DIR: r.runtime }),
      'from-runtime-dir',
      `bt_u${UID}`,
    ],
    ['then /tmp/bt_u<uid>', () => ({}), 'from-tmp', join('tmp', `bt_u${UID}`)],
    [
      'past an empty BEARER_TOKEN and a missing BEARER_TOKEN_FILE',
      (r) => ({ BEARER_TOKEN: '', BEARER_TOKEN_FILE: join(r.root, 'missing'), XDG_RUNTIME_DIR: r.runtime }),
      'from-runtime-dir',
      `bt_u${UID}`,
    ],
    [
      'past an XDG_RUNTIME_DIR without the file, to /tmp',
      (r) => ({ XDG_RUNTIME_DIR: join(r.root, 'empty-run') }),
      'from-tmp',
      join('tmp', `bt_u${UID}`),
    ],
  ])('takes %s', (_what, env, token, from) => {
    const found = discoverBearerToken({ env: env({ root, runtime }), uid: UID, tmpDir: tmp });
    expect(found?.token).toBe(token);
    expect(found?.from.endsWith(from)).toBe(true);
  });

  it('finds nothing when no step gives a token (empty files count as none)', () => {
    writeFileSync(join(tmp, `bt_u${UID}`), '\n');
    expect(discoverBearerToken({ env: {}, uid: UID, tmpDir: tmp })).toBeUndefined();
    expect(discoverBearerToken({ env: {}, uid: undefined, tmpDir: tmp })).toBeUndefined();
  });

  it('lists the places it looks, in order', () => {
    expect(
      discoveryPlaces({
        env: { BEARER_TOKEN_FILE: '/f', XDG_RUNTIME_DIR: '/run/user/7' },
        uid: 7,
        tmpDir: '/tmp',
      }),
    ).toEqual(['BEARER_TOKEN', '/f', '/run/user/7/bt_u7', '/tmp/bt_u7']);
  });
});
