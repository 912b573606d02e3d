import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { CfnApi, HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Distribution,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  HttpMethods,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { acknowledge } from '../nag.ts';

export interface WebProps {
  /** Absolute path of the repository root (web/, node_modules/chart.js). */
  projectRoot: string;
  /** The API the pages call (config.json names its endpoint; its CORS admits the pages' origin). */
  httpApi: HttpApi;
  /** The results bucket: its CORS rule lets the pages read objects through presigned URLs. */
  dataBucket: Bucket;
  /** Where the web bucket's server access logs go. */
  accessLogsBucket: Bucket;
  removalPolicy: RemovalPolicy;
}

/** Chart.js's browser build, as the pages load it from `vendor/chart.umd.js`. */
function chartJsFile(projectRoot: string): string {
  // The package exports no path to its UMD file: it sits beside the main one.
  return join(dirname(createRequire(join(projectRoot, 'package.json')).resolve('chart.js')), 'chart.umd.js');
}

/**
 * The web monitor (web/): a private bucket served by CloudFront through origin access control,
 * holding the pages, Chart.js and a config.json with the API's URL. The pages call the API with
 * the user's token from the distribution's origin, so the API and the results bucket admit that
 * origin (CORS), for reads only in the bucket's case.
 */
export class Web extends Construct {
  readonly bucket: Bucket;
  readonly distribution: Distribution;
  readonly url: string;

  constructor(scope: Construct, id: string, props: WebProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Pages', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'web/',
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: false,
    });

    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Gluon web monitor',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: ResponseHeadersPolicy.SECURITY_HEADERS,
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}`;
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR1',
      'The monitor shows what the API returns for the token holder; the API (JWT) is the access control, not geography.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR2',
      'Static pages only: every request that reads data goes to the API, which has its own throttling and JWT authorizer.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR3',
      'Standard CloudFront logs need an ACL-enabled bucket; our log bucket enforces bucket-owner ownership (no ACLs), and the web bucket has S3 access logs.',
    );
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR4',
      'The default *.cloudfront.net certificate admits no minimum TLS setting; a deployment with its own domain and certificate sets TLSv1.2_2021.',
    );

    // The pages' origin may read results through presigned URLs (the Z→μμ histogram on its task page).
    props.dataBucket.addCorsRule({
      allowedMethods: [HttpMethods.GET, HttpMethods.HEAD],
      allowedOrigins: [this.url],
      allowedHeaders: ['*'],
      exposedHeaders: ['ETag', 'Content-Length'],
      maxAge: 3000,
    });
    // …and call the API with the user's token.
    (props.httpApi.node.defaultChild as CfnApi).corsConfiguration = {
      allowOrigins: [this.url],
      allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
      allowHeaders: ['authorization', 'content-type', 'idempotency-key'],
      maxAge: Duration.hours(1).toSeconds(),
    };

    const deployment = new BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      sources: [
        Source.asset(join(props.projectRoot, 'web'), { exclude: ['**/*.d.ts'] }),
        Source.data('vendor/chart.umd.js', readFileSync(chartJsFile(props.projectRoot), 'utf8')),
        Source.jsonData('config.json', { apiUrl: props.httpApi.apiEndpoint }),
      ],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      prune: true,
      memoryLimit: 256,
    });
    // CDK's deployment handler: one function per stack (outside this construct), with CDK's own role.
    const handler = deployment.handlerRole.node.scope as IConstruct;
    const findings: Array<[string, string]> = [
      [
        'AwsSolutions-L1',
        'CDK pins the runtime of its BucketDeployment handler; it moves with aws-cdk-lib upgrades.',
      ],
      [
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'CDK gives its BucketDeployment handler the basic execution role: writing its own logs only.',
      ],
      [
        'AwsSolutions-IAM5[Resource::*]',
        'The BucketDeployment handler invalidates the distribution: cloudfront:CreateInvalidation and GetInvalidation take no narrower resource.',
      ],
      [
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        'The BucketDeployment handler reads the web assets CDK uploaded to its bootstrap assets bucket.',
      ],
      [
        'AwsSolutions-IAM5[Resource::<WebPages5FDC1F78.Arn>/*]',
        'The BucketDeployment handler writes and prunes every object of the web bucket, which holds only the deployed pages.',
      ],
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map(
        (action): [string, string] => [
          `AwsSolutions-IAM5[Action::${action}]`,
          `CDK's grantRead/grantReadWrite give the BucketDeployment handler ${action} on the assets and web buckets only.`,
        ],
      ),
    ];
    for (const [rule, reason] of findings) acknowledge(handler, rule, reason);
  }
}
