/**
 * Synthesizes the Gluon app for template tests and reads the template back as plain JSON, with
 * small helpers to follow references. One synth per test file (it bundles 17 functions).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createGluonApp } from '../../../cdk/gluon-app.ts';
import type { GluonStack } from '../../../cdk/gluon-stack.ts';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  DependsOn?: string[];
}

export interface Synthesized {
  app: ReturnType<typeof createGluonApp>['app'];
  stack: GluonStack;
  template: Template;
  resources: Record<string, CfnResource>;
  outdir: string;
  /** Removes the cloud assembly directory. */
  cleanup(): void;
}

export interface SynthOptions {
  stage: 'dev' | 'prod';
  /** Bundle the functions with esbuild (slow); otherwise assets are placeholders. */
  bundle: boolean;
  /** CloudFormation schema validation of the template during synth (slow). */
  validate: boolean;
}

export function synthGluon(options: SynthOptions): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'gluon-cdk-'));
  try {
    const { app, stack } = createGluonApp({
      stage: options.stage,
      outdir,
      builtinCloudFormationValidation: options.validate,
      context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] },
    });
    const template = Template.fromStack(stack);
    const resources = template.toJSON().Resources as Record<string, CfnResource>;
    return {
      app,
      stack,
      template,
      resources,
      outdir,
      cleanup: () => rmSync(outdir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

export function ofType(resources: Record<string, CfnResource>, type: string): Array<[string, CfnResource]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

export function propsOf(resource: CfnResource | undefined): Record<string, unknown> {
  if (resource?.Properties === undefined) throw new Error('resource without properties');
  return resource.Properties;
}

/** The construct path CDK records on each resource, e.g. `gluon-dev/Functions/submit-task/Function/Resource`. */
export function cdkPath(resource: CfnResource): string {
  const path = resource.Metadata?.['aws:cdk:path'];
  if (typeof path !== 'string') throw new Error('resource without aws:cdk:path metadata');
  return path;
}

/** Renders an intrinsic as text: `{Ref: X}` → `<X>`, `{Fn::GetAtt: [X, Arn]}` → `<X.Arn>`, joins concatenated. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return `<${String(object.Ref)}>`;
    if ('Fn::GetAtt' in object) return `<${(object['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    if ('Fn::Sub' in object) return String(object['Fn::Sub']);
  }
  return JSON.stringify(value);
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Sid?: string;
}

/** Every identity-policy statement in the template, with the path of the policy that holds it. */
export function identityStatements(
  resources: Record<string, CfnResource>,
): Array<{ path: string; statement: Statement }> {
  const out: Array<{ path: string; statement: Statement }> = [];
  for (const [, resource] of Object.entries(resources)) {
    const documents: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      documents.push(resource.Properties?.PolicyDocument);
    }
    if (resource.Type === 'AWS::IAM::Role') {
      for (const policy of asArray(
        resource.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined,
      )) {
        documents.push(policy.PolicyDocument);
      }
    }
    for (const document of documents) {
      for (const statement of asArray((document as { Statement: Statement | Statement[] }).Statement)) {
        out.push({ path: cdkPath(resource), statement });
      }
    }
  }
  return out;
}

/** The statements of the default policy attached to the role at `rolePath` (e.g. `gluon-dev/Functions/get-task/Role`). */
export function roleStatements(resources: Record<string, CfnResource>, rolePath: string): Statement[] {
  return identityStatements(resources)
    .filter((s) => s.path === `${rolePath}/DefaultPolicy/Resource`)
    .map((s) => s.statement);
}
