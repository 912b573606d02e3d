/** The web monitor on AWS: a private bucket behind CloudFront (OAC), its deployment, and CORS for its origin. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asArray,
  type CfnResource,
  cdkPath,
  ofType,
  propsOf,
  render,
  type Statement,
  type Synthesized,
  synthGluon,
} from './synth.ts';

let synth: Synthesized;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  synth = synthGluon({ stage: 'prod', bundle: false, validate: false });
  resources = synth.resources;
}, 120_000);

afterAll(() => synth?.cleanup());

function one(type: string, pathPart: string): [string, CfnResource] {
  const found = ofType(resources, type).filter(([, r]) => cdkPath(r).includes(pathPart));
  expect(found, `${type} at ${pathPart}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

describe('the web monitor', () => {
  it('keeps its pages in a private, encrypted, SSL-only bucket with access logs', () => {
    const [bucketId, bucket] = one('AWS::S3::Bucket', '/Web/Pages/');
    const props = propsOf(bucket);
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(render(props.BucketEncryption)).toContain('AES256');
    expect(props.LoggingConfiguration).toMatchObject({ LogFilePrefix: 'web/' });
    const [, policy] = one('AWS::S3::BucketPolicy', '/Web/Pages/');
    const statements = (propsOf(policy).PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    // Only CloudFront reads it, and only for this distribution.
    const [distributionId] = one('AWS::CloudFront::Distribution', '/Web/Distribution/');
    const read = statements.find((s) => s.Effect === 'Allow' && asArray(s.Action).includes('s3:GetObject'));
    expect(read?.Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
    expect(render(read?.Condition?.StringEquals?.['AWS:SourceArn'])).toContain(distributionId);
    expect(render(read?.Resource)).toContain(bucketId);
  });

  it('serves it through CloudFront with origin access control, HTTPS only, index.html at the root', () => {
    const [, distribution] = one('AWS::CloudFront::Distribution', '/Web/Distribution/');
    const config = propsOf(distribution).DistributionConfig as Record<string, unknown>;
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior).toMatchObject({ ViewerProtocolPolicy: 'redirect-to-https' });
    const [origin] = config.Origins as Array<Record<string, unknown>>;
    expect(origin?.OriginAccessControlId).toBeDefined();
    expect(origin?.S3OriginConfig).toEqual({ OriginAccessIdentity: '' });
    const [, oac] = one('AWS::CloudFront::OriginAccessControl', '/Web/');
    expect(propsOf(oac).OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 's3',
      SigningBehavior: 'always',
    });
  });

  it('deploys web/, Chart.js and a config.json naming the API, then invalidates the distribution', () => {
    const [, deployment] = one('Custom::CDKBucketDeployment', '/Web/Deploy/');
    const props = propsOf(deployment);
    expect(asArray(props.SourceObjectKeys)).toHaveLength(3);
    expect(props.DistributionPaths).toEqual(['/*']);
    expect(props.Prune).toBe(true);
    // config.json is written at deploy time with the API's endpoint (a marker replaced by the handler).
    const markers = JSON.stringify(props.SourceMarkers);
    expect(markers).toContain('HttpApi');
  });

  it("lets the distribution's origin read results and call the API (CORS)", () => {
    const [, data] = one('AWS::S3::Bucket', '/Storage/Data/');
    const [distributionId] = one('AWS::CloudFront::Distribution', '/Web/Distribution/');
    const rules = (propsOf(data).CorsConfiguration as { CorsRules: Array<Record<string, unknown>> })
      .CorsRules;
    expect(rules).toHaveLength(1);
    expect(rules[0]?.AllowedMethods).toEqual(['GET', 'HEAD']);
    expect(asArray(rules[0]?.AllowedOrigins).map(render)).toEqual([`https://<${distributionId}.DomainName>`]);

    const [, api] = one('AWS::ApiGatewayV2::Api', '/Api/HttpApi/');
    const cors = propsOf(api).CorsConfiguration as Record<string, unknown>;
    expect(asArray(cors.AllowOrigins).map(render)).toEqual([`https://<${distributionId}.DomainName>`]);
    expect(cors.AllowHeaders).toContain('authorization');
  });

  it('names the monitor URL in the outputs', () => {
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(render(outputs.WebUrl?.Value)).toMatch(/^https:\/\/<\w+Distribution\w*\.DomainName>$/);
  });
});
