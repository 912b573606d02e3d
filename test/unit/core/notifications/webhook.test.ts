import { describe, expect, it } from 'vitest';
import { retryDelaySec, webhookUrlIssues } from '#core/notifications/webhook.ts';

describe('webhookUrlIssues', () => {
  it.each([
    // url, allowHttpLoopback, allowed
    ['https://hooks.example.org/gluon', false, true],
    ['https://127.0.0.1:8443/hook', false, true],
    ['http://hooks.example.org/gluon', false, false],
    ['http://127.0.0.1:9000/hook', false, false],
    ['http://127.0.0.1:9000/hook', true, true],
    ['http://localhost:9000/hook', true, true],
    ['http://[::1]:9000/hook', true, true],
    ['http://10.0.0.5/hook', true, false],
    ['http://hooks.example.org/gluon', true, false],
    ['http://127.0.0.1.nip.io/hook', true, false],
    ['ftp://127.0.0.1/hook', true, false],
    ['https://user:pw@hooks.example.org/', false, false],
    ['not a url', true, false],
  ] as const)('%s with http to loopback allowed=%s → allowed=%s', (url, allowHttpLoopback, allowed) => {
    const issues = webhookUrlIssues(url, { allowHttpLoopback });
    expect(issues.length === 0).toBe(allowed);
    for (const issue of issues) expect(issue.field).toBe('url');
  });

  it('says https is needed when plain http is not allowed at all', () => {
    expect(webhookUrlIssues('http://127.0.0.1/x', { allowHttpLoopback: false })).toEqual([
      { field: 'url', message: 'must be https' },
    ]);
  });
});

describe('retryDelaySec', () => {
  const schedule = { baseSec: 60, maxDelaySec: 900, maxAttempts: 6 };
  it.each([
    // failed attempts so far → delay before the next, or none
    [1, 60],
    [2, 120],
    [3, 240],
    [4, 480],
    [5, 900],
    [6, undefined],
    [7, undefined],
  ] as const)('after %i failed attempts: %s s', (attempts, delay) => {
    expect(retryDelaySec(attempts, schedule)).toBe(delay);
  });

  it('gives no retry when one attempt is all there is', () => {
    expect(retryDelaySec(1, { ...schedule, maxAttempts: 1 })).toBeUndefined();
  });
});
