/** The Transfers construct alone, in a bare stack (no bundling): queue, DLQ, consumer mapping, copier grants. */
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { Transfers } from '../../../cdk/constructs/transfers.ts';

function synth(dataBuckets: string[]) {
  const stack = new Stack(new App(), 'T');
  const results = new Bucket(stack, 'Results');
  const transfers = new Transfers(stack, 'Transfers', {
    removalPolicy: RemovalPolicy.DESTROY,
    resultsBucket: results,
    dataBuckets,
    visibilityTimeoutSec: 960,
  });
  const consumer = new LambdaFunction(stack, 'Consumer', {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({})'),
  });
  transfers.addConsumer(consumer, 5);
  transfers.grantCopy(consumer);
  const sender = new Role(stack, 'Sender', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  transfers.grantSend(sender);
  return Template.fromStack(stack);
}

describe('Transfers', () => {
  it('makes the transfers queue and its DLQ, both encrypted, the queue redriving after 5 receives', () => {
    const template = synth([]);
    const queues = template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2);
    for (const queue of Object.values(queues)) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 960,
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
  });

  it('refuses plain-HTTP access to both queues', () => {
    const template = synth([]);
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(2);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('feeds the consumer in batches of 5 with ReportBatchItemFailures', () => {
    synth([]).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it("grants the copier objects of the results bucket's tasks/ and of the stage's data buckets only", () => {
    const template = synth(['gluon-data-a']);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as Array<{ Sid?: string; Action: string[]; Resource: unknown }>,
    );
    const copy = statements.filter((s) => s.Sid?.startsWith('Copy'));
    expect(copy.map((s) => s.Sid).sort()).toEqual(['CopyEndpointReplicas', 'CopyResultsReplicas']);
    for (const s of copy) {
      expect([...s.Action].sort()).toEqual([
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetObject',
        's3:PutObject',
      ]);
    }
    expect(copy.find((s) => s.Sid === 'CopyEndpointReplicas')?.Resource).toBe('arn:aws:s3:::gluon-data-a/*');
    expect(JSON.stringify(copy.find((s) => s.Sid === 'CopyResultsReplicas')?.Resource)).toContain('/tasks/*');
    expect(statements.some((s) => [s.Action].flat().includes('s3:*'))).toBe(false);
  });
});
