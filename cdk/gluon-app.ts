import { fileURLToPath } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GluonStack } from './gluon-stack.ts';
import { stageConfig } from './stages.ts';

/** The repository root, whatever the working directory. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export interface GluonAppOptions extends AppProps {
  /** Stage name; default: context `stage`, else `dev`. */
  stage?: string;
  /** Register cdk-nag AwsSolutions as a validation plugin (synth fails on findings). */
  nag?: boolean;
}

/** Feature flags the stack relies on (set here so that tests and the CLI synthesize the same thing). */
export const FEATURE_FLAGS = {
  // S3 server access logs via a bucket policy, which works with bucket-owner-enforced ownership (no ACLs).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/** The app with one stack, `gluon-<stage>`, environment-agnostic (no account or region lookups). */
export function createGluonApp(options: GluonAppOptions = {}): { app: App; stack: GluonStack } {
  const { stage: stageOption, nag = false, ...appProps } = options;
  const app = new App({
    analyticsReporting: false,
    ...appProps,
    // Construct paths in resource metadata, as the CLI does by default (tests find resources by path).
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true, ...appProps.context },
  });
  const stageName = stageOption ?? (app.node.tryGetContext('stage') as string | undefined) ?? 'dev';
  const stage = stageConfig(stageName);
  const stack = new GluonStack(app, `gluon-${stage.name}`, {
    stage,
    projectRoot: PROJECT_ROOT,
    description: `Gluon workload management system (${stage.name})`,
  });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
