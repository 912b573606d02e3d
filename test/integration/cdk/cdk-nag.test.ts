import { Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Synthesized, synthGluon } from './synth.ts';

/** Every acknowledgement recorded in the construct tree: rule id, reason, where. */
function acknowledgements(root: IConstruct): Array<{ id: string; reason: string; path: string }> {
  const out: Array<{ id: string; reason: string; path: string }> = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ id, reason, path: construct.node.path });
      }
    }
  }
  return out;
}

let synth: Synthesized;

beforeAll(() => {
  // cdk-nag checks the construct tree; bundling and schema validation add nothing to it.
  synth = synthGluon({ stage: 'prod', bundle: false, validate: false });
}, 120_000);

afterAll(() => synth?.cleanup());

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the stack', () => {
    const report = new AwsSolutionsChecks().validateScope(synth.app);
    const findings = report.violations.map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('acknowledges only exact rule ids, each with a reason', () => {
    const acks = acknowledgements(synth.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // IAM5 findings are acknowledged one by one (`AwsSolutions-IAM5[Resource::…]`), never the whole rule.
      // The web monitor's CDK-made BucketDeployment handler also has exact IAM4/IAM5 Action findings, and its distribution CFR ones.
      // SQS3 (a queue without a DLQ) only on the task event rules' DLQ and the transfers queue's DLQ, themselves DLQs.
      expect(ack.id, ack.path).toMatch(
        /^Annotation::AwsSolutions-(IAM5\[Resource::[^\]]+\]|IAM5\[Action::s3:[A-Za-z]+\*\]|IAM4\[Policy::[^\]]+\]|L1|S1|CFR[1-4])$|^Annotation::AwsSolutions-SQS3$/,
      );
      if (ack.id.endsWith('-SQS3'))
        expect(ack.path).toMatch(/\/(Notifications\/TargetDeadLetters|Transfers\/TransfersDlq)$/);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(40);
    }
  });

  it('reports a wildcard grant nobody acknowledged (the check can fail)', () => {
    const stack = new Stack(synth.app, 'nag-probe');
    const role = new Role(stack, 'Probe', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['dynamodb:*'], resources: ['*'] }));
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual(
      expect.arrayContaining(['AwsSolutions-IAM5[Action::dynamodb:*]', 'AwsSolutions-IAM5[Resource::*]']),
    );
  });
});
