import { describe, expect, it } from 'vitest';
import { ROUTES, type Route } from '#lambdas/routes.ts';
import { createRouteMatcher } from '#local/route-matcher.ts';

describe('route matching', () => {
  const match = createRouteMatcher(ROUTES);

  it('finds a literal route and its route key', () => {
    const found = match('POST', '/tasks');
    expect(found).toMatchObject({ kind: 'found', routeKey: 'POST /tasks', pathParameters: {} });
    expect(found.kind === 'found' && found.route.functionName).toBe('submit-task');
  });

  it('takes one path segment per {param}, URL-decoded', () => {
    const found = match('GET', '/tasks/t-abc123%2Dx/jobs');
    expect(found).toMatchObject({
      kind: 'found',
      routeKey: 'GET /tasks/{taskId}/jobs',
      pathParameters: { taskId: 't-abc123-x' },
    });
    expect(match('GET', '/tasks/a/b/jobs')).toEqual({ kind: 'not-found' });
  });

  it('tells a wrong method (405 with the allowed ones) from an unknown path (404)', () => {
    expect(match('DELETE', '/tasks')).toEqual({ kind: 'method-not-allowed', allowed: ['GET', 'POST'] });
    expect(match('GET', '/tasks/t-1/cancel')).toEqual({ kind: 'method-not-allowed', allowed: ['POST'] });
    expect(match('GET', '/nothing')).toEqual({ kind: 'not-found' });
    expect(match('GET', '/tasks/')).toEqual({ kind: 'not-found' });
  });

  it('routes every operation to its function, with the operation id', () => {
    expect(match('POST', '/pilots/p-abc123/claim')).toMatchObject({
      kind: 'found',
      route: { operationId: 'claimJob', functionName: 'claim-job' },
      pathParameters: { pilotId: 'p-abc123' },
    });
    expect(match('GET', '/sites/local/demand')).toMatchObject({
      kind: 'found',
      route: { operationId: 'siteDemand', functionName: 'site-demand' },
      pathParameters: { siteId: 'local' },
    });
    expect(match('GET', '/tasks/t-abc123/jobs/7')).toMatchObject({
      kind: 'found',
      route: { operationId: 'getJob', functionName: 'get-job' },
      pathParameters: { taskId: 't-abc123', jobIndex: '7' },
    });
    // The heartbeat route is gone: pilots renew their lease in DynamoDB.
    expect(match('POST', '/pilots/p-abc123/heartbeat')).toEqual({ kind: 'not-found' });
  });

  it('matches the method case-insensitively', () => {
    expect(match('get', '/pilots')).toMatchObject({ kind: 'found', routeKey: 'GET /pilots' });
  });

  it('prefers a literal segment over a parameter, and supports greedy {param+}', () => {
    const routes: Route[] = [
      {
        operationId: 'getTask',
        method: 'GET',
        path: '/tasks/{taskId}',
        functionName: 'get-task',
        scopes: [],
      },
      {
        operationId: 'listTasks',
        method: 'GET',
        path: '/tasks/summary',
        functionName: 'summary',
        scopes: [],
      },
      { operationId: 'getJob', method: 'GET', path: '/files/{key+}', functionName: 'files', scopes: [] },
    ];
    const m = createRouteMatcher(routes);
    const literal = m('GET', '/tasks/summary');
    expect(literal.kind === 'found' && literal.route.functionName).toBe('summary');
    expect(m('GET', '/files/a/b/c.root')).toMatchObject({
      kind: 'found',
      pathParameters: { key: 'a/b/c.root' },
    });
  });
});
