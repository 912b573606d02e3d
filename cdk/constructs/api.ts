import { CfnOutput, type RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ACCESS_LOG_FIELDS } from '#lambdas/http/access-log.ts';
import type { Route } from '#lambdas/routes.ts';

export interface ApiProps {
  routes: readonly Route[];
  /** Function per route `functionName`. */
  functions: ReadonlyMap<string, IFunction>;
  /** JWT issuer (`iss`) and accepted audiences (`aud`). */
  issuer: string;
  audience: string[];
  throttle: { rateLimit: number; burstLimit: number };
  logRetention: RetentionDays;
  removalPolicy: RemovalPolicy;
}

/** One JSON line per request (lambdas/http/access-log.ts); `sub` says who called. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS));

/**
 * The HTTP API: every route of lambdas/routes.ts behind one JWT authorizer (issuer and audience
 * from the stage), each requiring its scopes; a `$default` stage with throttling and access logs.
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Gluon API',
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: ACCESS_LOG_FORMAT,
      },
    });

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.issuer, {
      jwtAudience: props.audience,
      identitySource: ['$request.header.Authorization'],
    });
    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of props.routes) {
      const fn = props.functions.get(route.functionName);
      if (fn === undefined)
        throw new Error(`route ${route.method} ${route.path}: no function ${route.functionName}`);
      if (route.scopes.length === 0) throw new Error(`route ${route.method} ${route.path} has no scopes`);
      let integration = integrations.get(route.functionName);
      if (integration === undefined) {
        // One invoke permission per function for this API (not one per route: 64 routes took 64
        // of the stack's 500 resources). The function still serves only the routes that name it.
        integration = new HttpLambdaIntegration(`${route.functionName}-integration`, fn, {
          scopePermissionToRoute: false,
        });
        integrations.set(route.functionName, integration);
      }
      this.httpApi.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        authorizer,
        authorizationScopes: [...route.scopes],
      });
    }

    new CfnOutput(this, 'Url', {
      value: this.stage.url,
      description: 'Base URL of the Gluon API (GLUON_API_URL)',
    });
  }
}
