/**
 * The local stand-in for EC2 and AWS Batch (no such stand-in exists on npm): one node:http server
 * on 127.0.0.1 that speaks the EC2 query protocol (POST /, form-encoded, XML answers) and Batch's
 * REST-JSON protocol (POST /v1/<operation>) as the real SDK clients send them, for the few calls
 * the provisioner makes. Point a client at it with `endpoint` or `AWS_ENDPOINT_URL_EC2` /
 * `AWS_ENDPOINT_URL_BATCH`. An instance "boots" as a process (bootInstance) with a fake IMDSv2 of
 * its own; a Batch job runs as a process (bootBatchJob).
 *
 * Control routes (local only, for tests and the demo):
 * - `POST /_fake/instances/{instanceId}/spot-interruption` (body `{"inSec":120}` optional)
 * - `POST /_fake/instances/{instanceId}/rebalance`
 * - `GET /_fake/instances` (state, pid, type, market, siteId, imdsEndpoint, …)
 * - `GET /_fake/requests` (every EC2 and Batch call so far) and `GET /_fake/batch/jobs`
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { closeOnce, LOOPBACK, listenOnLoopback } from '../listen.ts';
import { readBody } from '../sfn-endpoint.ts';
import type { BootCommand } from './boot-process.ts';
import { decodeQuery, Ec2Error, ec2ErrorResponse, ec2Response, type QueryParams } from './ec2-query.ts';
import { BatchError, FakeBatch, type FakeBatchJob } from './fake-batch.ts';
import { type FakeInstance, FakeInstances } from './fake-instances.ts';

export type { BootCommand } from './boot-process.ts';
export type { FakeBatchJob, FakeBatchJobStatus } from './fake-batch.ts';
export type { FakeInstance, FakeInstanceState } from './fake-instances.ts';

export interface FakeEc2Options {
  /** What an instance runs once it is `running` (GLUON_IMDS_ENDPOINT is added to its env). */
  bootInstance: (instance: FakeInstance) => BootCommand | Promise<BootCommand>;
  /** What a Batch job (an array child) runs; without it jobs stay RUNNABLE (a queue without compute). */
  bootBatchJob?: (job: FakeBatchJob) => BootCommand | Promise<BootCommand>;
  /** The default warning time of a Spot interruption notice (120 s, as Spot gives). */
  spotNoticeSec?: number;
  /** Spot prices by type (default: the dated table's). */
  spotPrices?: Record<string, number>;
  /** Spot instances of a type EC2 can give at once (default: no limit): beyond, InsufficientInstanceCapacity. */
  spotCapacity?: Record<string, number>;
  /** Launch template ids that exist (default: any). */
  launchTemplateIds?: string[];
  /** Subnets that exist, with their availability zone (default: any, zone from the id). */
  subnets?: Record<string, string>;
  /** Tags instances must be launched with, as the stack's IAM conditions ask (default: gluon:stage). */
  requiredTags?: string[];
  /** Batch job queues that exist (default: any). */
  jobQueues?: string[];
  port?: number;
  /** Where each instance's and job's output goes (default: a new temporary directory). */
  logDir?: string;
  region?: string;
}

export interface FakeEc2Request {
  service: 'ec2' | 'batch';
  action: string;
  params: Record<string, unknown>;
}

export interface FakeEc2 {
  /** `http://127.0.0.1:PORT`: EC2, Batch and the control routes. */
  endpoint: string;
  /** Every EC2 and Batch call so far, decoded (EC2 lists as arrays: `TagSpecification[0].Tag[0].Key`). */
  requests: FakeEc2Request[];
  instances(): FakeInstance[];
  batchJobs(): FakeBatchJob[];
  /** A Spot interruption notice now, the instance reclaimed inSec later (default spotNoticeSec). */
  interrupt(instanceId: string, inSec?: number): void;
  rebalance(instanceId: string): void;
  logDir: string;
  /** Kills every instance's and job's process group, then closes the servers. */
  stop(): Promise<void>;
}

const DEFAULT_SPOT_NOTICE_SEC = 120;

/** A JSON answer: status, body, and the error type Batch names in x-amzn-errortype. */
type JsonAnswer = [number, unknown, string?];

export async function startFakeEc2(options: FakeEc2Options): Promise<FakeEc2> {
  const region = options.region ?? 'us-east-1';
  const logDir = options.logDir ?? mkdtempSync(join(tmpdir(), 'gluon-fake-ec2-'));
  mkdirSync(logDir, { recursive: true });
  const ec2 = new FakeInstances({
    bootInstance: options.bootInstance,
    spotNoticeSec: options.spotNoticeSec ?? DEFAULT_SPOT_NOTICE_SEC,
    spotPrices: options.spotPrices ?? {},
    spotCapacity: options.spotCapacity ?? {},
    ...(options.launchTemplateIds === undefined ? {} : { launchTemplateIds: options.launchTemplateIds }),
    ...(options.subnets === undefined ? {} : { subnets: options.subnets }),
    requiredTags: options.requiredTags ?? [CLOUD_TAGS.stage],
    logDir,
    region,
  });
  const batch = new FakeBatch({
    ...(options.bootBatchJob === undefined ? {} : { bootBatchJob: options.bootBatchJob }),
    ...(options.jobQueues === undefined ? {} : { jobQueues: options.jobQueues }),
    logDir,
    region,
  });
  const requests: FakeEc2Request[] = [];

  const serveEc2 = async (body: string, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const params: QueryParams = decodeQuery(body);
    const { Action: action, Version: _version, ...rest } = params;
    const name = typeof action === 'string' ? action : '';
    requests.push({ service: 'ec2', action: name, params: rest });
    try {
      const result = await ec2.handle(name, rest);
      res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
      res.end(ec2Response(name, requestId, result));
    } catch (error) {
      const { code, status, message } =
        error instanceof Ec2Error ? error : { code: 'InternalError', status: 500, message: String(error) };
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
      res.end(ec2ErrorResponse(code, message, requestId));
    }
  };

  const serveBatch = (operation: string, body: string): JsonAnswer => {
    let input: Record<string, unknown>;
    try {
      input = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
    } catch {
      return [400, { message: 'the body is not JSON' }, 'ClientException'];
    }
    requests.push({ service: 'batch', action: batchAction(operation), params: input });
    try {
      return [200, batch.handle(operation, input)];
    } catch (error) {
      const type = error instanceof BatchError ? error.type : 'ServerException';
      return [type === 'ClientException' ? 400 : 500, { message: (error as Error).message }, type];
    }
  };

  const serveControl = (method: string | undefined, path: string, body: string): JsonAnswer => {
    if (method === 'GET' && path === '/_fake/instances') return [200, ec2.list().map(controlView)];
    if (method === 'GET' && path === '/_fake/requests') return [200, requests];
    if (method === 'GET' && path === '/_fake/batch/jobs') return [200, batch.list()];
    const match = /^\/_fake\/instances\/([^/]+)\/(spot-interruption|rebalance)$/.exec(path);
    if (method !== 'POST' || match === null) return [404, { message: `no route ${path}` }];
    const instanceId = decodeURIComponent(match[1] as string);
    try {
      if (match[2] === 'rebalance') {
        ec2.rebalance(instanceId);
      } else {
        const inSec = body === '' ? undefined : (JSON.parse(body) as { inSec?: unknown }).inSec;
        if (inSec !== undefined && (typeof inSec !== 'number' || !(inSec >= 0))) {
          return [400, { message: 'inSec: a number of seconds, 0 or more' }];
        }
        ec2.interrupt(instanceId, inSec);
      }
    } catch (error) {
      const status = error instanceof Ec2Error && error.code.endsWith('NotFound') ? 404 : 400;
      return [status, { message: (error as Error).message }];
    }
    return [200, controlView(ec2.list().find((i) => i.instanceId === instanceId) as FakeInstance)];
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = (await readBody(req)) ?? '';
      const path = (req.url ?? '/').split('?')[0] as string;
      if (req.method === 'POST' && path === '/') {
        await serveEc2(body, res);
        return;
      }
      const answer: JsonAnswer = path.startsWith('/_fake/')
        ? serveControl(req.method, path, body)
        : req.method === 'POST' && path.startsWith('/v1/')
          ? serveBatch(path.slice(4).toLowerCase(), body)
          : [404, { message: `no route ${req.method} ${path}` }];
      sendJson(res, ...answer);
    })().catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { message: String(error) });
    });
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  const close = closeOnce(server);
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    requests,
    instances: () => ec2.list(),
    batchJobs: () => batch.list(),
    interrupt: (instanceId, inSec) => ec2.interrupt(instanceId, inSec),
    rebalance: (instanceId) => ec2.rebalance(instanceId),
    logDir,
    stop: () => {
      stopping ??= Promise.all([ec2.stop(), batch.stop()]).then(close);
      return stopping;
    },
  };
}

/** What GET /_fake/instances shows of an instance. */
function controlView(instance: FakeInstance): Record<string, unknown> {
  return {
    instanceId: instance.instanceId,
    state: instance.state,
    pid: instance.pid,
    type: instance.instanceType,
    market: instance.market,
    siteId: instance.siteId,
    imdsEndpoint: instance.imdsEndpoint,
    launchedAt: instance.launchedAt,
    tags: instance.tags,
    spotAction: instance.spotAction,
    exitCode: instance.exitCode,
    logFile: instance.logFile,
  };
}

/** The operation's name as the SDK calls it (`submitjob` → `SubmitJob`). */
function batchAction(operation: string): string {
  const names: Record<string, string> = {
    submitjob: 'SubmitJob',
    listjobs: 'ListJobs',
    describejobs: 'DescribeJobs',
    terminatejob: 'TerminateJob',
    canceljob: 'CancelJob',
  };
  return names[operation] ?? operation;
}

function sendJson(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
  });
  res.end(JSON.stringify(body));
}
