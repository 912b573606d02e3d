import { describe, expect, it } from 'vitest';
import { PutSiteRequestSchema } from '#core/api/sites.ts';

describe('PutSiteRequestSchema', () => {
  it('takes a site definition without its id (the path names it), with defaults filled but the status', () => {
    const body = PutSiteRequestSchema.parse({ maxPilots: 5 });
    expect(body).toMatchObject({ kind: 'local', maxPilots: 5 });
    expect(body.status).toBeUndefined();
    expect(PutSiteRequestSchema.parse({ status: 'offline', reason: 'downtime' })).toMatchObject({
      status: 'offline',
      reason: 'downtime',
    });
  });

  it('refuses an empty reason, a test of no jobs and a failure fraction over 1, naming each', () => {
    const result = PutSiteRequestSchema.safeParse({
      reason: '',
      test: { jobs: 0 },
      health: { maxInfraFailureFraction: 1.5 },
    });
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'health.maxInfraFailureFraction',
      'reason',
      'test.jobs',
    ]);
  });

  it('fills a test task with its defaults: two jobs checking the work directory, 5 min back-off', () => {
    expect(PutSiteRequestSchema.parse({ test: {} }).test).toEqual({
      jobs: 2,
      payload: { command: 'sh', args: ['-c', 'test -w "$GLUON_WORK_DIR"'], env: {} },
      inputs: [],
      backoffSec: 300,
      timeoutSec: 3600,
    });
  });

  it('refuses an unknown field and a bad slot', () => {
    const result = PutSiteRequestSchema.safeParse({ pilots: 3, slot: { cores: 0 } });
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['', 'slot.cores']);
  });
});
