import { statfsSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  dynamoDbClient,
  dynamoDbDocumentClient,
  dynamoDbStreamsClient,
  s3Client,
  sqsClient,
} from '#adapters/aws-clients.ts';
import { DynamoDbSiteStore } from '#adapters/dynamodb/dynamodb-site-store.ts';
import { createTables, localTableNames, type TableKey, tableEnvName } from '#adapters/dynamodb/tables.ts';
import { ensureBucket } from '#adapters/s3/s3-object-store.ts';
import { createQueuePair } from '#adapters/sqs/queues.ts';
import { SqsJobQueue } from '#adapters/sqs/sqs-job-queue.ts';
import { SiteSchema } from '#core/sites/site.ts';
import { putSite } from '#core/sites/sites.ts';
import {
  EVENT_FUNCTIONS,
  functionDir,
  META_TASK_WORKFLOW_FUNCTIONS,
  QUEUE_FUNCTIONS,
  ROUTES,
  SCHEDULED_FUNCTIONS,
  STREAM_FUNCTIONS,
  WORKFLOW_FUNCTIONS,
} from '#lambdas/routes.ts';
import { powertoolsEnvironment } from '#lambdas/runtime/powertools-environment.ts';
import { bundlePilot } from '#pilot/build/build-pilot.ts';
import { demandClient } from '#pilot/factory/demand-client.ts';
import { LocalProcessPlugin } from '#pilot/factory/local-plugin.ts';
import { PilotFactoryAgent } from '#pilot/factory/pilot-factory-agent.ts';
import { startApiServer } from './api-server.ts';
import { createLocalAuth, type MintTokenOptions } from './auth.ts';
import {
  type CloudPilotContext,
  type LocalCloudOptions,
  provisionerEnv,
  provisionIntervalSec,
  startLocalCloud,
} from './cloud.ts';
import { type LocalEventBus, startLocalEventBus } from './event-bus.ts';
import type { FakeEc2 } from './fake-ec2/fake-ec2.ts';
import type { HandlerMap, LambdaHandler } from './lambda-handler.ts';
import { consoleLog, type Log, loggerOf } from './log.ts';
import { type QueuePoller, startQueuePoller } from './queue-poller.ts';
import { startS3CorsProxy } from './s3-cors-proxy.ts';
import { startScheduler } from './scheduler.ts';
import { startSfnEndpoint } from './sfn-endpoint.ts';
import { awsEnvFor, freePort, startDynamoDbLocal, startFauxqs } from './stand-ins.ts';
import { acquireStateLock } from './state-lock.ts';
import { type StreamPoller, startStreamPoller } from './stream-poller.ts';
import { startWorkflowRunner, type WorkflowRunner } from './workflow-runner.ts';

/** Everything the local stack can be told; every field has a default. */
export interface LocalStackOptions {
  /** Where data, keys, logs and local.json live (default `<repo>/.gluon`). */
  stateDir?: string;
  /** Ports on 127.0.0.1 (0 = any free port). Defaults 8642, 8643, 8644, 8645. */
  apiPort?: number;
  dynamodbPort?: number;
  sqsPort?: number;
  sfnPort?: number;
  /** The local event bus (EventBridge PutEvents) on 127.0.0.1; default 8646. */
  eventsPort?: number;
  /** Webhook deliveries: the first back-off delay (doubling after each failed attempt; default 1 s). */
  webhookRetryBaseSec?: number;
  /** Period of the webhook retry runs (default 1 s). */
  webhookRetryEverySec?: number;
  /** The S3 endpoint's port (a CORS proxy in front of fauxqs; default: any free one, kept across restarts). */
  s3Port?: number;
  /** The fake EC2/Batch endpoint's port (default: any free one, kept across restarts). */
  ec2Port?: number;
  /** The fake EC2's Spot capacity, notice time and prices (tests). */
  cloud?: LocalCloudOptions;
  /** Period of the provisioner's runs (default GLUON_PROVISION_INTERVAL_SEC, else 5 s; every minute on AWS). */
  provisionEverySec?: number;
  /** Most pilot processes at once (default 4). */
  pilots?: number;
  siteId?: string;
  /** A pilot lease not renewed for this long expires (default 30 s). */
  leaseSec?: number;
  /** How often pilots renew their lease (default 5 s). */
  heartbeatSec?: number;
  /** Period of the reaper's sweeps (default 3 s). */
  reapEverySec?: number;
  /** Period of the dispatch rounds (default 1 s): jobs are released to site queues in fair-share order. */
  dispatchEverySec?: number;
  /** Period of site health's runs (default 5 s). */
  siteHealthEverySec?: number;
  /** Pilots leave after this long without a job (default 30 s). */
  pilotIdleExitSec?: number;
  /** How often the pilot factory asks for the site's demand (default 1 s). */
  pilotCheckEverySec?: number;
  /** A range's lease, the range queues' visibility timeout (GLUON_RANGE_LEASE_SEC; default 20 s). */
  rangeLeaseSec?: number;
  /** How long functions keep the current retry rules in memory (GLUON_RETRY_POLICY_CACHE_SEC; default 5 s). */
  retryPolicyCacheSec?: number;
  /** Level of the functions' logs (default info, as deployed). */
  functionLogLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Tests: DynamoDB and SQS/S3 in memory (executions and the JWT key still go to stateDir). */
  inMemory?: boolean;
  /** Tests: how a pilot is started (default: this Node running the pilot bundled as sites get it). */
  pilotLauncher?: string[];
  /** Tests: extra arguments for every pilot. */
  pilotArgs?: string[];
  /** Transfers: the first back-off delay after a failed attempt (doubling after each; default 1 s). */
  transferRetryBaseSec?: number;
  /** Transfers: files above this many bytes are copied in parts (default 64 MiB). */
  transferMultipartThresholdBytes?: number;
  log?: Log;
}

/** The local site's pilot factory: the real factory agent, with the local-process batch plugin. */
export interface LocalPilotFactory {
  agent: PilotFactoryAgent;
  plugin: LocalProcessPlugin;
  /** Pilot processes alive now. */
  alive(): ReturnType<LocalProcessPlugin['alive']>;
  /** Every pilot process started so far. */
  list(): ReturnType<LocalProcessPlugin['processes']>;
  /** Sends a signal to one pilot (tests: kill a pilot mid-job). */
  kill(pid: number, signal?: NodeJS.Signals): boolean;
  /** One factory cycle now (the timer does one every pilotCheckEverySec). */
  check(): Promise<number>;
  stopAll(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<void>;
}

export interface LocalStack {
  apiUrl: string;
  /** A token for the local user (compute.create/read/cancel). */
  userToken: string;
  /** A token for pilots of the local site (gluon.pilot). */
  pilotToken: string;
  mintToken(options: MintTokenOptions): Promise<string>;
  stateDir: string;
  endpoints: { api: string; dynamodb: string; sqs: string; s3: string; sfn: string; ec2: string };
  /** AWS endpoints, dummy credentials and the GLUON_* settings, for child processes (CLI, pilots). */
  env: Record<string, string>;
  factory: LocalPilotFactory;
  /** The fake EC2 and AWS Batch (endpoints.ec2): the instances and jobs the provisioner started, Spot notices. */
  cloud: FakeEc2;
  workflows: WorkflowRunner;
  /** The meta-task workflow's runner. */
  metaTaskWorkflows: WorkflowRunner;
  /** The task event bus (EventBridge locally). */
  eventBus: LocalEventBus;
  /** The tables' change feeds (jobs, ranges), as their functions get them. */
  changeFeeds: Record<string, StreamPoller>;
  /** Our SQS queues' consumers (the transfer service), by function name. */
  queueConsumers: Record<string, QueuePoller>;
  /** Bytes of API access log written so far (CloudWatch Logs volume on AWS). */
  accessLogBytes(): number;
  /** The DynamoDB Local process (for its CPU and memory). */
  dynamodbPid: number | undefined;
  /** Ends everything, in reverse order; safe to call more than once. */
  stop(): Promise<void>;
}

export const LOCAL_PREFIX = 'gluon-local-';
export const LOCAL_BUCKET = 'gluon-local';
export const LOCAL_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:gluon-local-task';
export const LOCAL_META_TASK_STATE_MACHINE_ARN =
  'arn:aws:states:us-east-1:000000000000:stateMachine:gluon-local-meta-task';
export const LOCAL_JSON = 'local.json';
/** The functions' metric lines (EMF, one JSON object a line), read by the metrics function. */
export const METRICS_FILE = 'metrics.ndjson';
const PORTS_JSON = 'ports.json';

interface Ports {
  api: number;
  dynamodb: number;
  sqs: number;
  sfn: number;
  events: number;
  s3: number;
  ec2: number;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const TASK_ASL = join(REPO_ROOT, 'statemachines', 'task.asl.json');
const META_TASK_ASL = join(REPO_ROOT, 'statemachines', 'meta-task.asl.json');
const DEFAULTS = {
  apiPort: 8642,
  dynamodbPort: 8643,
  sqsPort: 8644,
  sfnPort: 8645,
  eventsPort: 8646,
  webhookRetryBaseSec: 1,
  webhookRetryEverySec: 1,
  pilots: 4,
  siteId: 'local',
  leaseSec: 30,
  rangeLeaseSec: 20,
  heartbeatSec: 5,
  reapEverySec: 3,
  dispatchEverySec: 1,
  siteHealthEverySec: 5,
  pilotIdleExitSec: 30,
  retryPolicyCacheSec: 5,
} as const;
const PILOT_STOP_TIMEOUT_MS = 15_000;

/** The pilot program bundled as sites get it (pilot/build), in the state dir. */
async function bundledPilot(stateDir: string): Promise<string> {
  const file = join(stateDir, 'pilot', 'gluon-pilot.cjs');
  await bundlePilot(file);
  return file;
}

/** The environment the handler modules were loaded with in this process (they cache clients). */
let loadedWith: string | undefined;

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? consoleLog;
  const stateDir = resolve(options.stateDir ?? join(REPO_ROOT, '.gluon'));
  const siteId = options.siteId ?? DEFAULTS.siteId;
  const pilots = options.pilots ?? DEFAULTS.pilots;
  const inMemory = options.inMemory ?? false;

  /** Undo steps of what has started, run in reverse on stop() or on a failed start. */
  const teardown: Array<{ what: string; run: () => Promise<void> }> = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const step of teardown.reverse()) {
        try {
          await step.run();
        } catch (error) {
          log('error', `stopping ${step.what} failed`, { error });
        }
      }
    })();
    return stopping;
  };

  /** Instances launched while the stack was starting wait for their pilots' context; a failed start ends the wait. */
  let failCloud: ((error: unknown) => void) | undefined;
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const lock = await acquireStateLock(stateDir);
    teardown.push({ what: 'the state dir lock', run: () => lock.release() });

    // Port 0 means "any free port"; a restart on the same state dir takes the ports of the last run
    // again when they are free, so URLs kept in persisted data (queue URLs) and in pilots stay valid.
    const previous = await readPorts(stateDir);
    const taken = new Set<number>(
      [
        options.dynamodbPort,
        options.sqsPort,
        options.sfnPort,
        options.apiPort,
        options.eventsPort,
        options.s3Port,
        options.ec2Port,
      ].filter((p): p is number => p !== undefined && p !== 0),
    );
    const port = async (name: keyof Ports, given: number | undefined, fallback: number): Promise<number> => {
      const wanted = given ?? fallback;
      if (wanted !== 0) return wanted;
      let chosen = previous?.[name];
      if (chosen === undefined || taken.has(chosen) || !(await portIsFree(chosen))) {
        do chosen = await freePort();
        while (taken.has(chosen));
      }
      taken.add(chosen);
      return chosen;
    };
    const ports: Ports = {
      dynamodb: await port('dynamodb', options.dynamodbPort, DEFAULTS.dynamodbPort),
      sqs: await port('sqs', options.sqsPort, DEFAULTS.sqsPort),
      sfn: await port('sfn', options.sfnPort, DEFAULTS.sfnPort),
      api: await port('api', options.apiPort, DEFAULTS.apiPort),
      events: await port('events', options.eventsPort, DEFAULTS.eventsPort),
      s3: await port('s3', options.s3Port, 0),
      ec2: await port('ec2', options.ec2Port, 0),
    };
    const { dynamodb: dynamodbPort, sqs: sqsPort, sfn: sfnPort, api: apiPort } = ports;

    // ---- stand-ins
    const [dynamodb, fauxqs] = await Promise.allSettled([
      startDynamoDbLocal({
        port: dynamodbPort,
        ...(inMemory ? {} : { dataDir: join(stateDir, 'dynamodb') }),
      }),
      startFauxqs({ port: sqsPort, ...(inMemory ? {} : { dataDir: join(stateDir, 'fauxqs') }) }),
    ]);
    if (dynamodb.status === 'fulfilled')
      teardown.push({ what: 'DynamoDB Local', run: () => dynamodb.value.stop() });
    if (fauxqs.status === 'fulfilled') teardown.push({ what: 'fauxqs', run: () => fauxqs.value.stop() });
    if (dynamodb.status === 'rejected') throw dynamodb.reason;
    if (fauxqs.status === 'rejected') throw fauxqs.reason;
    const sfnUrl = `http://127.0.0.1:${sfnPort}`;
    // The task event bus, before the functions' environment names it (its rules get the functions once loaded).
    const eventBus = await startLocalEventBus({ port: ports.events, rules: EVENT_FUNCTIONS, log });
    teardown.push({ what: 'the event bus', run: () => eventBus.stop() });
    // S3 through a proxy adding the CORS answers of the results bucket (see s3-cors-proxy.ts).
    const s3Proxy = await startS3CorsProxy({
      target: fauxqs.value.endpoint,
      port: ports.s3,
      allowedOrigins: [`http://127.0.0.1:${apiPort}`, `http://localhost:${apiPort}`],
    });
    teardown.push({ what: 'the S3 CORS proxy', run: () => s3Proxy.stop() });
    // EC2 and AWS Batch: the fake; its instances' pilots need the API, which comes up below.
    const cloudContext = deferred<CloudPilotContext>();
    failCloud = (error) => cloudContext.reject(error);
    const cloud = await startLocalCloud({
      port: ports.ec2,
      stateDir,
      context: cloudContext.promise,
      ...(options.cloud === undefined ? {} : { cloud: options.cloud }),
    });
    teardown.push({ what: 'the fake EC2 and Batch', run: () => cloud.stop() });
    const endpoints = {
      dynamodb: dynamodb.value.endpoint,
      sqs: fauxqs.value.endpoint,
      s3: s3Proxy.endpoint,
      sfn: sfnUrl,
    };

    // ---- the functions' environment (set before any handler module is loaded)
    const tables = localTableNames(LOCAL_PREFIX);
    const functionEnv: Record<string, string> = {
      ...awsEnvFor(endpoints),
      ...Object.fromEntries(
        (Object.keys(tables) as TableKey[]).map((key) => [tableEnvName(key), tables[key]]),
      ),
      GLUON_BUCKET: LOCAL_BUCKET,
      GLUON_QUEUE_PREFIX: LOCAL_PREFIX,
      GLUON_STATE_MACHINE_ARN: LOCAL_STATE_MACHINE_ARN,
      GLUON_LEASE_SEC: String(options.leaseSec ?? DEFAULTS.leaseSec),
      GLUON_HEARTBEAT_SEC: String(options.heartbeatSec ?? DEFAULTS.heartbeatSec),
      GLUON_RANGE_LEASE_SEC: String(options.rangeLeaseSec ?? DEFAULTS.rangeLeaseSec),
      // An open dataset is looked at again every 2 s locally (60 s on AWS).
      GLUON_INPUT_POLL_SEC: '2',
      // The local scheduler runs the reaper every reapEverySec: one sweep per run.
      GLUON_REAP_SWEEPS: '1',
      // Likewise dispatch: one round per run, every dispatchEverySec.
      GLUON_DISPATCH_ROUNDS: '1',
      GLUON_LOG_LEVEL: options.functionLogLevel ?? 'info',
      GLUON_RETRY_POLICY_CACHE_SEC: String(options.retryPolicyCacheSec ?? DEFAULTS.retryPolicyCacheSec),
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBus.url,
      GLUON_EVENT_BUS_NAME: `${LOCAL_PREFIX}task-events`,
      // This deployment's receivers are on this machine: plain http to loopback is allowed.
      GLUON_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true',
      GLUON_WEBHOOK_RETRY_BASE_SEC: String(options.webhookRetryBaseSec ?? DEFAULTS.webhookRetryBaseSec),
      GLUON_WEBHOOK_TIMEOUT_MS: '5000',
      // Powertools as deployed (cdk/constructs/functions.ts), but no X-Ray here; the functions'
      // metric lines are also kept in the state dir, for `GET /metrics` and `gluon metrics`.
      ...powertoolsEnvironment(options.functionLogLevel ?? 'info'),
      POWERTOOLS_TRACE_ENABLED: 'false',
      GLUON_METRICS_FILE: join(stateDir, METRICS_FILE),
      // The transfers queue (made below, with its DLQ), under the URL fauxqs gives it.
      GLUON_TRANSFER_QUEUE_URL: localQueueUrl(fauxqs.value.endpoint, 'transfers'),
      GLUON_TRANSFER_RETRY_BASE_SEC: String(options.transferRetryBaseSec ?? 1),
      GLUON_TRANSFER_RETRY_MAX_SEC: '60',
      ...(options.transferMultipartThresholdBytes === undefined
        ? {}
        : { GLUON_TRANSFER_MULTIPART_THRESHOLD_BYTES: String(options.transferMultipartThresholdBytes) }),
      GLUON_META_TASK_STATE_MACHINE_ARN: LOCAL_META_TASK_STATE_MACHINE_ARN,
      // The provisioner's EC2 and Batch (the fake), launch templates, job queues and stage, as CDK sets them.
      ...provisionerEnv(cloud.endpoint),
    };
    const fingerprint = JSON.stringify(functionEnv);
    if (loadedWith !== undefined && loadedWith !== fingerprint) {
      throw new Error(
        'the Lambda handlers were already loaded in this process with other endpoints or settings, and they keep ' +
          'their clients for the life of the process (as after a cold start); start this stack in a new process, ' +
          'or with the same ports and settings as the first one',
      );
    }
    const previousEnv = Object.fromEntries(Object.keys(functionEnv).map((k) => [k, process.env[k]]));
    Object.assign(process.env, functionEnv);
    teardown.push({
      what: 'the environment',
      run: async () => {
        for (const [k, v] of Object.entries(previousEnv)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      },
    });

    // ---- tables, bucket, site and its queue
    const ddb = dynamoDbClient();
    const s3 = s3Client();
    const sqs = sqsClient();
    teardown.push({
      what: 'the SDK clients',
      run: async () => {
        ddb.destroy();
        s3.destroy();
        sqs.destroy();
      },
    });
    await Promise.all([
      createTables(ddb, tables),
      ensureBucket(s3, LOCAL_BUCKET),
      createLocalQueues(sqs, endpoints.sqs),
    ]);
    // The local site, defined through the same use case as `PUT /sites/{siteId}`.
    const queue = new SqsJobQueue(sqs, LOCAL_PREFIX);
    await putSite(
      {
        queue,
        sites: new DynamoDbSiteStore(dynamoDbDocumentClient(ddb), tables.sites),
        clock: { now: () => new Date() },
      },
      siteId,
      SiteSchema.parse({
        siteId,
        kind: 'local',
        status: 'online',
        slot: machineSlot(stateDir),
        maxPilots: pilots,
        tags: ['local'],
        // One site on a developer's machine: a load spike failing the pilots' node checks would
        // send it to test, and every task with it. Operators turn site health on with site-put.
        health: { auto: false },
      }),
    );

    // ---- the functions
    const handlers = await loadHandlers();
    loadedWith = fingerprint;
    eventBus.attach(handlers);

    // ---- Step Functions
    const workflows = await startWorkflowRunner({
      stateDir,
      definitionFile: TASK_ASL,
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
      handlers,
      resume: false,
      log,
    });
    teardown.push({ what: 'the workflow runner', run: () => workflows.stop() });
    // The meta-task workflow: its own runner (and executions file, in a folder of its own).
    const metaTaskWorkflows = await startWorkflowRunner({
      stateDir: join(stateDir, 'meta-tasks'),
      definitionFile: META_TASK_ASL,
      stateMachineArn: LOCAL_META_TASK_STATE_MACHINE_ARN,
      handlers,
      resume: false,
      log,
    });
    teardown.push({ what: 'the meta-task workflow runner', run: () => metaTaskWorkflows.stop() });
    const sfn = await startSfnEndpoint({ port: sfnPort, runner: [workflows, metaTaskWorkflows], log });
    teardown.push({ what: 'the Step Functions endpoint', run: () => sfn.stop() });
    await workflows.resume();
    await metaTaskWorkflows.resume();

    // ---- change feeds (the Lambda event source mappings of the tables' streams)
    const streams = dynamoDbStreamsClient();
    teardown.push({ what: 'the streams client', run: async () => streams.destroy() });
    const changeFeeds: Record<string, StreamPoller> = {};
    for (const feed of STREAM_FUNCTIONS) {
      const poller = await startStreamPoller({
        dynamodb: ddb,
        streams,
        tableName: tables[feed.table],
        functionName: feed.functionName,
        handlers,
        ...('filter' in feed ? { filter: feed.filter } : {}),
        // The jobs feed keeps the checkpoint file it always had, so existing state directories resume.
        ...(inMemory
          ? {}
          : {
              checkpointFile: join(
                stateDir,
                feed.table === 'jobs' ? 'streams.json' : `streams-${feed.table}.json`,
              ),
            }),
        log,
      });
      teardown.push({ what: `the ${feed.table} change feed`, run: () => poller.stop() });
      changeFeeds[feed.table] = poller;
    }

    // ---- our queues' consumers (the Lambda event source mappings of the SQS queues)
    const queueConsumers: Record<string, QueuePoller> = {};
    for (const consumer of QUEUE_FUNCTIONS) {
      const poller = startQueuePoller({
        sqs,
        queueUrl: localQueueUrl(endpoints.sqs, consumer.queue),
        queueArn: `arn:aws:sqs:us-east-1:000000000000:${LOCAL_PREFIX}${consumer.queue}`,
        functionName: consumer.functionName,
        handlers,
        batchSize: consumer.batchSize,
        log,
      });
      teardown.push({ what: `the ${consumer.queue} queue's consumer`, run: () => poller.stop() });
      queueConsumers[consumer.functionName] = poller;
    }

    // ---- schedules
    const localEverySec: Record<string, number> = {
      'reap-pilots': options.reapEverySec ?? DEFAULTS.reapEverySec,
      'site-health': options.siteHealthEverySec ?? DEFAULTS.siteHealthEverySec,
      'dispatch-jobs': options.dispatchEverySec ?? DEFAULTS.dispatchEverySec,
      'retry-webhooks': options.webhookRetryEverySec ?? DEFAULTS.webhookRetryEverySec,
      'provision-pilots': options.provisionEverySec ?? provisionIntervalSec(),
    };
    const scheduler = startScheduler({
      schedules: SCHEDULED_FUNCTIONS.map((s) => ({
        functionName: s.functionName,
        everySec: localEverySec[s.functionName] ?? s.everySec,
      })),
      handlers,
      log,
    });
    teardown.push({ what: 'the scheduler', run: () => scheduler.stop() });

    // ---- API
    const auth = await createLocalAuth({ stateDir });
    await mkdir(join(stateDir, 'logs'), { recursive: true });
    const api = await startApiServer({
      port: apiPort,
      handlers,
      auth,
      accessLogFile: join(stateDir, 'logs', 'api-access.log'),
      log,
      web: true,
    });
    teardown.push({ what: 'the API server', run: () => api.stop() });
    const userToken = await auth.userToken();
    const pilotToken = await auth.pilotToken(siteId);

    // ---- pilots: the site's pilot factory agent, as on any site, with the local-process plugin
    const env: Record<string, string> = {
      ...functionEnv,
      GLUON_API_URL: api.url,
      GLUON_HOME: stateDir,
    };
    const launcher = options.pilotLauncher ?? [
      process.execPath,
      '--disable-warning=ExperimentalWarning',
      await bundledPilot(stateDir),
    ];
    const pilotEnv = {
      ...functionEnv,
      // The local site's node is the developer's machine, busy with the stand-ins and tests:
      // its load average says nothing about whether a pilot can run a job there.
      GLUON_MAX_LOAD_PER_CORE: process.env.GLUON_MAX_LOAD_PER_CORE ?? '1000',
    };
    const factory = startFactory({
      siteId,
      maxPilots: pilots,
      stateDir,
      apiUrl: api.url,
      pilotToken,
      pilotEnv,
      launcher,
      pilotArgs: [
        '--idle-exit-sec',
        String(options.pilotIdleExitSec ?? DEFAULTS.pilotIdleExitSec),
        ...(options.pilotArgs ?? []),
      ],
      checkEverySec: options.pilotCheckEverySec ?? 1,
      log,
    });
    teardown.push({
      what: 'the pilots',
      run: () => factory.stop({ signal: 'SIGTERM', timeoutMs: PILOT_STOP_TIMEOUT_MS }),
    });
    // The cloud's instances and Batch jobs boot their pilots from here on.
    cloudContext.resolve({
      apiUrl: api.url,
      launcher,
      pilotToken: (site: string) => auth.pilotToken(site),
      env: pilotEnv,
    });
    teardown.push({ what: 'the cloud instances', run: () => cloud.stop() });

    // ---- local.json, for the CLI
    const localJson = join(stateDir, LOCAL_JSON);
    await writeJsonAtomic(localJson, {
      apiUrl: api.url,
      token: userToken,
      pilotToken,
      endpoints: { api: api.url, ...endpoints, ec2: cloud.endpoint },
      pids: { stack: process.pid },
    });
    teardown.push({ what: LOCAL_JSON, run: () => unlink(localJson).catch(() => {}) });
    await writeJsonAtomic(join(stateDir, PORTS_JSON), ports);

    return {
      apiUrl: api.url,
      userToken,
      pilotToken,
      mintToken: (o) => auth.mintToken(o),
      stateDir,
      endpoints: { api: api.url, ...endpoints, ec2: cloud.endpoint },
      env,
      factory,
      cloud,
      workflows,
      metaTaskWorkflows,
      eventBus,
      changeFeeds,
      queueConsumers,
      accessLogBytes: () => api.accessLogBytes(),
      dynamodbPid: dynamodb.value.pid,
      stop,
    };
  } catch (error) {
    failCloud?.(error);
    await stop();
    throw error;
  }
}

/** A promise settled later from outside (the cloud's pilots wait on the API); a rejection nobody awaits is not reported. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** The URL fauxqs gives our queue `name` (`gluon-local-<name>`), known before the functions load. */
function localQueueUrl(sqsEndpoint: string, name: string): string {
  return `${sqsEndpoint}/000000000000/${LOCAL_PREFIX}${name}`;
}

/**
 * Our fixed queues (CDK makes them on AWS) with their DLQs: a message received 5 times goes to the
 * DLQ; one a consumer failed on comes back after 30 s.
 */
async function createLocalQueues(sqs: ReturnType<typeof sqsClient>, sqsEndpoint: string): Promise<void> {
  for (const queue of new Set(QUEUE_FUNCTIONS.map((q) => q.queue))) {
    const name = `${LOCAL_PREFIX}${queue}`;
    const { queueUrl } = await createQueuePair(sqs, { queue: name, dlq: `${name}-dlq` }, 5, {
      VisibilityTimeout: '30',
    });
    if (queueUrl !== localQueueUrl(sqsEndpoint, queue)) {
      throw new Error(
        `queue ${name} is at ${queueUrl}, not where the functions were told (${localQueueUrl(sqsEndpoint, queue)})`,
      );
    }
  }
}

/** Every function of the route table, the workflow and the schedules, from `lambdas/<fn>/index.ts`. */
async function loadHandlers(): Promise<HandlerMap> {
  const names = [
    ...new Set([
      ...ROUTES.map((r) => r.functionName),
      ...WORKFLOW_FUNCTIONS,
      ...META_TASK_WORKFLOW_FUNCTIONS,
      ...SCHEDULED_FUNCTIONS.map((s) => s.functionName),
      ...STREAM_FUNCTIONS.map((s) => s.functionName),
      ...EVENT_FUNCTIONS.map((e) => e.functionName),
      ...QUEUE_FUNCTIONS.map((q) => q.functionName),
    ]),
  ];
  const handlers: Record<string, LambdaHandler> = {};
  for (const name of names) {
    let module: { handler?: unknown };
    try {
      // A specifier the bundler of a test runner leaves alone (it cannot expand two-level variables).
      const specifier = `#lambdas/${functionDir(name)}/index.ts`;
      module = (await import(/* @vite-ignore */ specifier)) as { handler?: unknown };
    } catch (error) {
      throw new Error(
        `cannot load the function ${name} (lambdas/${functionDir(name)}/index.ts): ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (typeof module.handler !== 'function') {
      throw new Error(`lambdas/${functionDir(name)}/index.ts does not export a function named handler`);
    }
    handlers[name] = module.handler as LambdaHandler;
  }
  return handlers;
}

/**
 * The local site's pilot factory: the factory agent every site runs (gluon-pilot factory), asking
 * the local API for the site's demand every `checkEverySec` and starting pilot processes through
 * the local-process batch plugin. No demand rule of its own.
 */
function startFactory(options: {
  siteId: string;
  maxPilots: number;
  stateDir: string;
  apiUrl: string;
  pilotToken: string;
  pilotEnv: Record<string, string>;
  launcher: string[];
  pilotArgs: string[];
  checkEverySec: number;
  log: Log;
}): LocalPilotFactory & { stop(o?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<void> } {
  const logger = loggerOf(options.log);
  const logDir = join(options.stateDir, 'logs');
  const plugin = new LocalProcessPlugin({
    workRoot: join(options.stateDir, 'pilots'),
    logDir,
    cwd: REPO_ROOT,
    env: options.pilotEnv,
    logger,
  });
  const agent = new PilotFactoryAgent(
    {
      apiUrl: options.apiUrl,
      token: options.pilotToken,
      siteId: options.siteId,
      intervalSec: options.checkEverySec,
      maxPending: options.maxPilots,
      maxPilots: options.maxPilots,
      pilotCommand: options.launcher,
      pilotArgs: options.pilotArgs,
      jobName: `gluon-pilot-${options.siteId}`,
      logDir,
      pilotEnv: {},
    },
    {
      fetchDemand: demandClient({ apiUrl: options.apiUrl, token: options.pilotToken }),
      batch: plugin,
      logger,
    },
  );
  const stopping = new AbortController();
  const running = agent.run(stopping.signal).catch((error: unknown) => {
    options.log('error', 'the pilot factory stopped', { error });
  });
  return {
    agent,
    plugin,
    alive: () => plugin.alive(),
    list: () => plugin.processes(),
    kill: (pid, signal) => plugin.kill(pid, signal),
    check: async () => (await agent.cycle()).submitted.length,
    stopAll: (o) => plugin.stopAll(o),
    async stop(o) {
      stopping.abort();
      await running;
      await plugin.stopAll(o);
    },
  };
}

/** One slot of the local site: this machine's cores, memory and the free disk of the state dir. */
function machineSlot(stateDir: string): {
  cores: number;
  memoryMB: number;
  walltimeSec: number;
  diskMB: number;
} {
  let diskMB = 10_000;
  try {
    const fs = statfsSync(stateDir);
    diskMB = Math.max(1, Math.floor((fs.bavail * fs.bsize) / (1024 * 1024)));
  } catch {
    // keep the default
  }
  return {
    cores: Math.max(1, availableParallelism()),
    memoryMB: Math.max(16, Math.floor(totalmem() / (1024 * 1024))),
    walltimeSec: 86_400,
    diskMB,
  };
}

async function readPorts(stateDir: string): Promise<Partial<Ports> | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(stateDir, PORTS_JSON), 'utf8')) as Record<string, unknown>;
    const valid = (v: unknown): number | undefined =>
      typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536 ? v : undefined;
    return {
      api: valid(parsed.api),
      dynamodb: valid(parsed.dynamodb),
      sqs: valid(parsed.sqs),
      sfn: valid(parsed.sfn),
      events: valid(parsed.events),
      s3: valid(parsed.s3),
    };
  } catch {
    return undefined;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
