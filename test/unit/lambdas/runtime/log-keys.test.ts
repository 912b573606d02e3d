import { describe, expect, it } from 'vitest';
import { logKeysOf } from '#lambdas/runtime/log-keys.ts';

describe('logKeysOf', () => {
  it.each([
    ['a task path', [{ taskId: 't-abcdefgh' }, undefined], undefined, { taskId: 't-abcdefgh' }],
    [
      'a job path',
      [{ taskId: 't-abcdefgh', jobIndex: 7 }],
      undefined,
      { taskId: 't-abcdefgh', jobId: 't-abcdefgh.7' },
    ],
    [
      "a claim: pilot in the path, job in the body, site from the pilot's token",
      [{ pilotId: 'p-12345678' }, { taskId: 't-abcdefgh', jobIndex: 0, attempt: 2 }],
      { sub: 'pilot:cern', scopes: [] },
      { taskId: 't-abcdefgh', jobId: 't-abcdefgh.0', attempt: 2, pilotId: 'p-12345678', siteId: 'cern' },
    ],
    ['a site path over a user token', [{ siteId: 'cern' }], { sub: 'alice', scopes: [] }, { siteId: 'cern' }],
    ['a pilot token for any site', [undefined], { sub: 'pilot:*', scopes: [] }, {}],
    ['a job index without a task', [{ jobIndex: 3 }], undefined, {}],
    ['values of the wrong type', [{ taskId: 42, pilotId: null, attempt: '2' }], undefined, {}],
    [
      'the path before the body',
      [{ taskId: 't-path0001' }, { taskId: 't-body0001' }],
      undefined,
      { taskId: 't-path0001' },
    ],
  ])('takes the keys of %s', (_what, parts, principal, expected) => {
    expect(logKeysOf(parts, principal)).toEqual(expected);
  });
});
