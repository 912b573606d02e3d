/**
 * A stage naming storage endpoint buckets (`catalog.dataBuckets`): pilots may read catalog files
 * there (the pilot role, and the sessions the vending functions make), and nothing else may.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FEATURE_FLAGS, PROJECT_ROOT } from '../../../cdk/gluon-app.ts';
import { GluonStack } from '../../../cdk/gluon-stack.ts';
import { stageConfig } from '../../../cdk/stages.ts';

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Statement = { Action: unknown; Resource: unknown };
let resources: Record<string, Resource>;
let pilotRoleId: string;

beforeAll(() => {
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  const stack = new GluonStack(app, 'gluon-data', {
    stage: { ...stageConfig('dev'), catalog: { dataBuckets: ['replica-bucket-a', 'replica-bucket-b'] } },
    projectRoot: PROJECT_ROOT,
  });
  resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
  pilotRoleId =
    Object.entries(resources).find(
      ([, r]) => r.Type === 'AWS::IAM::Role' && String(r.Properties?.Description).startsWith('Gluon pilots'),
    )?.[0] ?? '';
}, 120_000);

function statementsOfRole(roleId: string): Statement[] {
  const statements: Statement[] = [];
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    if (!JSON.stringify(r.Properties?.Roles ?? []).includes(`"${roleId}"`)) continue;
    const document = (r.Properties?.PolicyDocument ?? { Statement: [] }) as { Statement: Statement[] };
    statements.push(...document.Statement);
  }
  return statements;
}

function variablesOf(f: Resource): Record<string, unknown> {
  return ((f.Properties?.Environment ?? {}) as { Variables?: Record<string, unknown> }).Variables ?? {};
}

describe('a stage with storage endpoint buckets', () => {
  it('lets the pilot role read objects in those buckets, and nothing more there', () => {
    expect(pilotRoleId).not.toBe('');
    const statements = statementsOfRole(pilotRoleId).filter((s) =>
      JSON.stringify(s.Resource).includes('replica-bucket-'),
    );
    expect(statements).toHaveLength(1);
    expect(statements[0]?.Action).toBe('s3:GetObject');
    expect(JSON.stringify(statements[0]?.Resource)).toContain(':s3:::replica-bucket-a/*');
    expect(JSON.stringify(statements[0]?.Resource)).toContain(':s3:::replica-bucket-b/*');
  });

  it('tells the vending functions, and only them, which locations their sessions may read', () => {
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    const withLocations = functions.filter((f) => {
      const variables =
        (f.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {};
      return variables.GLUON_PILOT_DATA_LOCATIONS !== undefined;
    });
    expect(withLocations.length).toBeGreaterThan(0);
    for (const f of withLocations) {
      const variables = variablesOf(f);
      expect(variables.GLUON_PILOT_DATA_LOCATIONS).toBe('replica-bucket-a/,replica-bucket-b/');
      expect(variables.GLUON_PILOT_ROLE_ARN).toBeDefined();
    }
    const vending = functions.filter(
      (f) =>
        (f.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables
          ?.GLUON_PILOT_ROLE_ARN,
    );
    expect(withLocations).toHaveLength(vending.length);
  });
});
