import { Duration } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { functionDir } from '#lambdas/routes.ts';
import { powertoolsEnvironment } from '#lambdas/runtime/powertools-environment.ts';
import type { FunctionSpec } from '../function-catalog.ts';
import { acknowledge } from '../nag.ts';

export interface GluonFunctionProps {
  spec: FunctionSpec;
  /** Absolute path of the repository (package.json, package-lock.json, lambdas/). */
  projectRoot: string;
  environment: Record<string, string>;
  /** The log group of the function's capability (Functions makes one per capability). */
  logGroup: LogGroup;
}

/**
 * Lets the ESM bundle load CommonJS dependencies that call `require` (esbuild keeps those calls).
 */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as __gluonCreateRequire } from 'node:module'; const require = __gluonCreateRequire(import.meta.url);";

/**
 * One handler directory (`lambdas/<name>/index.ts`, exporting `handler`) as a Lambda function:
 * bundled by the local esbuild (no Docker) into minified ESM with source maps, Node.js 22 on
 * arm64, logging JSON to its capability's log group, X-Ray tracing, the Powertools settings, and
 * its own role that starts with nothing but writing to that log group and sending traces — every
 * other permission is granted explicitly by the stack.
 */
export class GluonFunction extends Construct {
  readonly name: string;
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: GluonFunctionProps) {
    super(scope, id);
    const { spec } = props;
    this.name = spec.name;
    this.logGroup = props.logGroup;
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Gluon function ${spec.name}`,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      description: `Gluon ${spec.kind} function ${spec.name}`,
      entry: `${props.projectRoot}/lambdas/${functionDir(spec.name)}/index.ts`,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: `${props.projectRoot}/package-lock.json`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: spec.memoryMB,
      timeout: Duration.seconds(spec.timeoutSec),
      role: this.role,
      logGroup: this.logGroup,
      // Our own JSON lines only: the runtime's START/END/REPORT lines (about 300 bytes per
      // invocation) are below WARN, so CloudWatch Logs ingestion is what the code logs.
      loggingFormat: LoggingFormat.JSON,
      systemLogLevelV2: SystemLogLevel.WARN,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      environment: {
        ...props.environment,
        // Powertools Logger, Metrics and Tracer (lambdas/runtime/powertools.ts); INFO as the log level above.
        ...powertoolsEnvironment('info'),
        POWERTOOLS_TRACE_ENABLED: 'true',
        NODE_OPTIONS: '--enable-source-maps',
      },
      // X-Ray: Powertools Tracer traces each invocation and the AWS SDK calls it makes.
      tracing: Tracing.ACTIVE,
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        banner: CREATE_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The AWS SDK is bundled at the versions package-lock.json pins (the runtime's copy may differ).
        externalModules: [],
      },
    });
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray trace uploads (xray:PutTraceSegments, xray:PutTelemetryRecords), which CDK adds for active tracing, support no resource-level permissions.',
    );
    acknowledge(
      this.function,
      'AwsSolutions-L1',
      'Pinned to nodejs22.x on purpose: the project, its tests and the local stack run Node 22 (DESIGN.md §5); move all together.',
    );
  }
}
