/**
 * StsCredentialVendor against a tiny in-test HTTP server that speaks the STS Query protocol
 * (form-encoded POST, XML answer): there is no STS stand-in. The server records every request and
 * answers what the test tells it to.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stsClient } from '#adapters/aws-clients.ts';
import {
  NoCredentialVendor,
  StsCredentialVendor,
  sessionPolicy,
} from '#adapters/sts/sts-credential-vendor.ts';
import { TransientError } from '#core/errors.ts';
import { config } from '#lambdas/runtime/config.ts';
import { depsFromConfig } from '#lambdas/runtime/deps.ts';
import { useStandInsEnv } from '#test/support/stand-ins-env.ts';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/gluon-dev-PilotCredentialsRole-ABC';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/gluon-dev-site-cern';
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:gluon-dev-site-cern';
const RANGE_QUEUES_ARN = 'arn:aws:sqs:eu-west-1:123456789012:gluon-dev-ranges-*';
const RANGE_DLQS_ARN = 'arn:aws:sqs:eu-west-1:123456789012:gluon-dev-ranges-*-dlq';
const BUCKET = 'gluon-dev-databucket-1x2y3z';
const LEASE_TABLE = 'gluon-dev-Bookkeeping-LeasesTable-9Z8Y7X';
const LEASE_TABLE_ARN = `arn:aws:dynamodb:eu-west-1:123456789012:table/${LEASE_TABLE}`;
const SCOPE = {
  pilotId: 'p-0a1b2c3d4e5f',
  siteId: 'cern',
  queueUrl: QUEUE_URL,
  bucket: BUCKET,
  leaseTable: LEASE_TABLE,
};

interface StsRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
}

interface StsAnswer {
  status: number;
  xml: string;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function assumeRoleAnswer(credentials: string): StsAnswer {
  return {
    status: 200,
    xml: `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult>${credentials}<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/pilots/p-0a1b2c3d4e5f</Arn><AssumedRoleId>AROAEXAMPLE:p-0a1b2c3d4e5f</AssumedRoleId></AssumedRoleUser><PackedPolicySize>9</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata></AssumeRoleResponse>`,
  };
}

const GOOD_ANSWER = assumeRoleAnswer(
  '<Credentials><AccessKeyId>ASIAPILOTEXAMPLE</AccessKeyId><SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey><SessionToken>FwoGZXIvYXdzEBYaDEXAMPLE</SessionToken><Expiration>2026-11-25T11:00:00Z</Expiration></Credentials>',
);

function errorAnswer(status: number, code: string, message: string): StsAnswer {
  return {
    status,
    xml: `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>0f0c2a8e</RequestId></ErrorResponse>`,
  };
}

let server: Server;
let endpoint: string;
const requests: StsRequest[] = [];
let answer: StsAnswer = GOOD_ANSWER;

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
    });
    res.writeHead(answer.status, { 'content-type': 'text/xml', 'x-amzn-requestid': '0f0c2a8e' });
    res.end(answer.xml);
  });
}

beforeAll(async () => {
  server = createServer(handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
  answer = GOOD_ANSWER;
});

/** A client of the test server that does not retry, so one call is one request. */
function testClient(): STSClient {
  return new STSClient({
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string[]>>;
}

function sessionPolicyOf(request: StsRequest): { Version: string; Statement: PolicyStatement[] } {
  return JSON.parse(request.form.get('Policy') ?? 'null') as {
    Version: string;
    Statement: PolicyStatement[];
  };
}

function list(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

describe('StsCredentialVendor', () => {
  it('assumes the pilot role for the pilot, signed, with the duration and a session tag of its site', async () => {
    const client = testClient();
    try {
      await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE);
    } finally {
      client.destroy();
    }
    const request = only(requests);
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=local\/\d{8}\/eu-west-1\/sts\/aws4_request/,
    );
    const form = request.form;
    expect(form.get('Action')).toBe('AssumeRole');
    expect(form.get('Version')).toBe('2011-06-15');
    expect(form.get('RoleArn')).toBe(ROLE_ARN);
    expect(form.get('RoleSessionName')).toBe(SCOPE.pilotId);
    expect(form.get('DurationSeconds')).toBe('3600');
    expect(form.get('Tags.member.1.Key')).toBe('gluon:site');
    expect(form.get('Tags.member.1.Value')).toBe('cern');
    expect(form.has('Tags.member.2.Key')).toBe(false);
    expect(form.has('ExternalId')).toBe(false);
  });

  it('narrows the session to the site queues of every resource class (not their DLQs), the range queues, the pilot prefixes of the bucket and its own lease, nothing else', async () => {
    const client = testClient();
    try {
      await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE);
    } finally {
      client.destroy();
    }
    const policy = sessionPolicyOf(only(requests));
    expect(policy.Version).toBe('2012-10-17');
    const pairs = (effect: string) =>
      policy.Statement.filter((s) => s.Effect === effect).flatMap((s) =>
        list(s.Action).flatMap((action) => list(s.Resource).map((resource) => `${action} ${resource}`)),
      );
    expect(policy.Statement.every((s) => s.Effect === 'Allow' || s.Effect === 'Deny')).toBe(true);
    const consume = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'];
    const consumeRanges = [...consume, 'sqs:SendMessage', 'sqs:GetQueueUrl'];
    expect(pairs('Allow').sort()).toEqual(
      [
        ...consume.flatMap((action) =>
          ['', '_mcore', '_himem', '_gpu'].map((suffix) => `${action} ${QUEUE_ARN}${suffix}`),
        ),
        ...consumeRanges.map((action) => `${action} ${RANGE_QUEUES_ARN}`),
        `dynamodb:UpdateItem ${LEASE_TABLE_ARN}`,
        `s3:PutObject arn:aws:s3:::${BUCKET}/tasks/*`,
        `s3:AbortMultipartUpload arn:aws:s3:::${BUCKET}/tasks/*`,
        `s3:GetObject arn:aws:s3:::${BUCKET}/sandboxes/*`,
        `s3:GetObject arn:aws:s3:::${BUCKET}/inputs/*`,
        `s3:GetObject arn:aws:s3:::${BUCKET}/tasks/*`,
      ].sort(),
    );
    // The range queues' pattern matches their DLQs too: those are denied, whatever the role allows.
    expect(pairs('Deny').sort()).toEqual(consumeRanges.map((action) => `${action} ${RANGE_DLQS_ARN}`).sort());
  });

  it("takes the stack's queue prefix from the site queue's name for the range queues", () => {
    const statements = sessionPolicy(
      {
        ...SCOPE,
        siteId: 'a-b',
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/other-site-a-b',
      },
      ROLE_ARN,
    ).Statement as unknown as PolicyStatement[];
    expect(statements.flatMap((s) => list(s.Resource)).filter((r) => r.startsWith('arn:aws:sqs:'))).toEqual([
      'arn:aws:sqs:eu-west-1:123456789012:other-site-a-b',
      'arn:aws:sqs:eu-west-1:123456789012:other-site-a-b_mcore',
      'arn:aws:sqs:eu-west-1:123456789012:other-site-a-b_himem',
      'arn:aws:sqs:eu-west-1:123456789012:other-site-a-b_gpu',
      'arn:aws:sqs:eu-west-1:123456789012:other-ranges-*',
      'arn:aws:sqs:eu-west-1:123456789012:other-ranges-*-dlq',
    ]);
    expect(() => sessionPolicy({ ...SCOPE, siteId: 'desy' }, ROLE_ARN)).toThrow(/not the queue of site desy/);
  });

  it('lets the session read the storage endpoints it is told of (stage-in of catalog files), and no more', () => {
    const s3Reads = (locations?: string[]) =>
      (sessionPolicy(SCOPE, ROLE_ARN, locations).Statement as unknown as PolicyStatement[])
        .filter((s) => list(s.Action).includes('s3:GetObject'))
        .flatMap((s) => list(s.Resource))
        .filter((r) => !r.includes(BUCKET));
    expect(s3Reads()).toEqual([]);
    expect(s3Reads(['data-a', 'data-b/run3/'])).toEqual([
      'arn:aws:s3:::data-a/*',
      'arn:aws:s3:::data-b/run3/*',
    ]);
  });

  it("lets the pilot update only its own lease: the lease table's items keyed by its pilot id", async () => {
    const client = testClient();
    try {
      await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE);
    } finally {
      client.destroy();
    }
    const statements = sessionPolicyOf(only(requests)).Statement;
    const lease = statements.filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
    expect(lease).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:UpdateItem'],
        Resource: LEASE_TABLE_ARN,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [SCOPE.pilotId] } },
      },
    ]);
    // No other statement is conditional or reaches DynamoDB.
    expect(statements.filter((s) => s.Condition !== undefined)).toHaveLength(1);
  });

  it("names the other site's queue for a pilot of another site", async () => {
    const client = testClient();
    try {
      await new StsCredentialVendor(client, ROLE_ARN).vend({
        ...SCOPE,
        siteId: 'desy',
        queueUrl: 'https://sqs.eu-central-1.amazonaws.com/123456789012/gluon-dev-site-desy',
      });
    } finally {
      client.destroy();
    }
    const form = only(requests).form;
    const resources = (
      JSON.parse(form.get('Policy') ?? '{}') as { Statement: PolicyStatement[] }
    ).Statement.flatMap((s) => list(s.Resource));
    expect(resources.filter((r) => r.startsWith('arn:aws:sqs:'))).toEqual([
      'arn:aws:sqs:eu-central-1:123456789012:gluon-dev-site-desy',
      'arn:aws:sqs:eu-central-1:123456789012:gluon-dev-site-desy_mcore',
      'arn:aws:sqs:eu-central-1:123456789012:gluon-dev-site-desy_himem',
      'arn:aws:sqs:eu-central-1:123456789012:gluon-dev-site-desy_gpu',
      'arn:aws:sqs:eu-central-1:123456789012:gluon-dev-ranges-*',
      'arn:aws:sqs:eu-central-1:123456789012:gluon-dev-ranges-*-dlq',
    ]);
    expect(resources.join(' ')).not.toContain('cern');
    expect(resources.filter((r) => r.startsWith('arn:aws:dynamodb:'))).toEqual([
      `arn:aws:dynamodb:eu-central-1:123456789012:table/${LEASE_TABLE}`,
    ]);
    expect(form.get('Tags.member.1.Value')).toBe('desy');
  });

  it('asks for the duration it was given', async () => {
    const client = testClient();
    try {
      await new StsCredentialVendor(client, ROLE_ARN, 900).vend(SCOPE);
    } finally {
      client.destroy();
    }
    expect(only(requests).form.get('DurationSeconds')).toBe('900');
  });

  it('returns the credentials of the answer, expiration as ISO time', async () => {
    const client = testClient();
    try {
      expect(await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE)).toEqual({
        accessKeyId: 'ASIAPILOTEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG',
        sessionToken: 'FwoGZXIvYXdzEBYaDEXAMPLE',
        expiration: '2026-11-25T11:00:00.000Z',
      });
    } finally {
      client.destroy();
    }
  });

  for (const [what, xml] of [
    ['no credentials at all', ''],
    [
      'credentials without a secret key',
      '<Credentials><AccessKeyId>ASIA</AccessKeyId><SessionToken>t</SessionToken><Expiration>2026-11-25T11:00:00Z</Expiration></Credentials>',
    ],
    [
      'credentials without an expiration',
      '<Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey></Credentials>',
    ],
  ] as const) {
    it(`turns an answer with ${what} into a TransientError`, async () => {
      answer = assumeRoleAnswer(xml);
      const client = testClient();
      try {
        const error = await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransientError);
        expect((error as Error).message).toMatch(/without credentials/);
      } finally {
        client.destroy();
      }
      expect(requests).toHaveLength(1);
    });
  }

  it('turns throttling into a TransientError', async () => {
    answer = errorAnswer(400, 'Throttling', 'Rate exceeded');
    const client = testClient();
    try {
      const error = await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toContain('vend pilot credentials');
    } finally {
      client.destroy();
    }
  });

  it('lets a refusal (a deployment error, e.g. the trust policy) through as it is, not as transient', async () => {
    answer = errorAnswer(403, 'AccessDenied', 'not authorized to perform: sts:AssumeRole');
    const client = testClient();
    try {
      const error = await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(TransientError);
      expect((error as Error).name).toBe('AccessDenied');
    } finally {
      client.destroy();
    }
  });
});

describe('production wiring (lambdas/runtime/deps.ts)', () => {
  const FUNCTION_ENV = {
    GLUON_TASKS_TABLE: 't',
    GLUON_JOBS_TABLE: 'j',
    GLUON_RANGES_TABLE: 'r',
    GLUON_ATTEMPTS_TABLE: 'a',
    GLUON_PILOTS_TABLE: 'p',
    GLUON_LEASES_TABLE: LEASE_TABLE,
    GLUON_SITES_TABLE: 's',
    GLUON_POLICIES_TABLE: 'po',
    GLUON_ACCOUNTING_TABLE: 'ac',
    GLUON_WEBHOOKS_TABLE: 'wh',
    GLUON_CATALOG_TABLE: 'ca',
    GLUON_BUCKET: BUCKET,
    GLUON_QUEUE_PREFIX: 'gluon-dev-',
    GLUON_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:x',
    GLUON_META_TASK_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:m',
  };

  it('vends through STS at AWS_ENDPOINT_URL_STS when GLUON_PILOT_ROLE_ARN is set', async () => {
    const restore = useStandInsEnv({ AWS_ENDPOINT_URL_STS: endpoint });
    try {
      const deps = depsFromConfig(config({ ...FUNCTION_ENV, GLUON_PILOT_ROLE_ARN: ROLE_ARN }));
      expect(deps.credentials).toBeInstanceOf(StsCredentialVendor);
      // Registration names this table in the scope it vends for.
      expect(deps.leases.tableName).toBe(LEASE_TABLE);
      expect((await deps.credentials.vend(SCOPE))?.accessKeyId).toBe('ASIAPILOTEXAMPLE');
      expect(only(requests).form.get('RoleArn')).toBe(ROLE_ARN);
      // The same client the function builds, at the same endpoint.
      const client = stsClient();
      try {
        await new StsCredentialVendor(client, ROLE_ARN).vend(SCOPE);
      } finally {
        client.destroy();
      }
      expect(requests).toHaveLength(2);
    } finally {
      restore();
    }
  });

  it('vends nothing (pilots bring their own) without GLUON_PILOT_ROLE_ARN, and calls no STS', async () => {
    const restore = useStandInsEnv({ AWS_ENDPOINT_URL_STS: endpoint });
    try {
      const deps = depsFromConfig(config(FUNCTION_ENV));
      expect(deps.credentials).toBeInstanceOf(NoCredentialVendor);
      expect(await deps.credentials.vend(SCOPE)).toBeUndefined();
      expect(requests).toEqual([]);
    } finally {
      restore();
    }
  });

  it('refuses a GLUON_PILOT_ROLE_ARN that is not an ARN', () => {
    expect(() => config({ ...FUNCTION_ENV, GLUON_PILOT_ROLE_ARN: 'pilots' })).toThrow(/GLUON_PILOT_ROLE_ARN/);
  });
});
