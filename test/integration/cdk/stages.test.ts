import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStage, STAGES, stageConfig } from '../../../cdk/stages.ts';
import { asArray, ofType, propsOf, type Synthesized, synthGluon } from './synth.ts';

describe('stage settings', () => {
  it('validates every stage of cdk/stages.ts', () => {
    for (const name of Object.keys(STAGES)) expect(stageConfig(name).name).toBe(name);
  });

  it('refuses an unknown stage, naming the known ones', () => {
    expect(() => stageConfig('staging')).toThrow(/unknown stage "staging".*dev\|prod/);
  });

  it('refuses bad settings, naming each field', () => {
    const bad = {
      ...STAGES.dev,
      auth: { issuer: 'http://login.example.org', audience: [] },
      sites: ['CERN_PROD'],
      logRetentionDays: 10,
      pilots: { accountId: '12345', externalId: 'x' },
    };
    let message = '';
    try {
      parseStage(bad);
    } catch (error) {
      message = (error as Error).message;
    }
    for (const field of [
      'auth.issuer',
      'auth.audience',
      'sites.0',
      'logRetentionDays',
      'pilots.accountId',
      'pilots.externalId',
    ]) {
      expect(message).toContain(field);
    }
  });
});

describe('prod stage', () => {
  let synth: Synthesized;

  beforeAll(() => {
    synth = synthGluon({ stage: 'prod', bundle: false, validate: false });
  }, 120_000);

  afterAll(() => synth?.cleanup());

  it('retains tables, buckets, the alarm key and every log group, and protects tables from deletion', () => {
    const stateful = [
      'AWS::DynamoDB::Table',
      'AWS::S3::Bucket',
      'AWS::Logs::LogGroup',
      'AWS::KMS::Key',
    ].flatMap((type) => ofType(synth.resources, type));
    expect(stateful.length).toBeGreaterThan(20);
    for (const [id, resource] of stateful) {
      expect(resource.DeletionPolicy, id).toBe('Retain');
      expect(resource.UpdateReplacePolicy, id).toBe('Retain');
    }
    for (const [id, table] of ofType(synth.resources, 'AWS::DynamoDB::Table')) {
      expect(propsOf(table).DeletionProtectionEnabled, id).toBe(true);
    }
  });

  it('keeps stable logical ids for the tables and buckets', () => {
    for (const id of [
      'TasksTable',
      'JobsTable',
      'PilotsTable',
      'SitesTable',
      'DataBucket',
      'AccessLogsBucket',
    ]) {
      expect(synth.resources[id], id).toBeDefined();
    }
  });

  it('uses the prod settings: stack name, queue prefix, issuer, log retention, sites', () => {
    const stage = stageConfig('prod');
    expect(synth.stack.stackName).toBe('gluon-prod');
    expect(synth.stack.jobDispatch.queuePrefix).toBe('gluon-prod-');
    const [, authorizer] = ofType(synth.resources, 'AWS::ApiGatewayV2::Authorizer')[0] ?? [];
    expect(propsOf(authorizer).JwtConfiguration).toEqual({
      Issuer: stage.auth.issuer,
      Audience: stage.auth.audience,
    });
    for (const [id, logGroup] of ofType(synth.resources, 'AWS::Logs::LogGroup')) {
      expect(propsOf(logGroup).RetentionInDays, id).toBe(stage.logRetentionDays);
    }
    const dlqAlarms = ofType(synth.resources, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
      asArray(propsOf(a).Dimensions as Array<{ Value: unknown }>).some((d) =>
        String(d.Value).endsWith('-dlq'),
      ),
    );
    expect(
      dlqAlarms.map(([, a]) => (propsOf(a).Dimensions as Array<{ Value: string }>)[0]?.Value).sort(),
    ).toEqual(
      stage.sites
        .flatMap((s) => ['', '_mcore', '_himem', '_gpu'].map((c) => `gluon-prod-site-${s}${c}-dlq`))
        .sort(),
    );
  });
});
