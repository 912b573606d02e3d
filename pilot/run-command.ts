/**
 * `gluon-pilot run`: wires the configuration, the node checks, the API client, the AWS clients
 * (with vended or environment credentials) and the signals to a Pilot, and runs it.
 */
import { constants as osConstants } from 'node:os';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { dynamoDbClient, dynamoDbDocumentClient, s3Client, sqsClient } from '#adapters/aws-clients.ts';
import { DynamoDbPilotLeaseStore } from '#adapters/dynamodb/dynamodb-pilot-lease-store.ts';
import { GluonClient } from '#client/gluon-client.ts';
import type { RegisterPilotResponse } from '#core/api/pilots.ts';
import { createLogger, type Logger, toStderr } from '#platform/logger.ts';
import { type CloudSetting, readCloudNode } from './cloud/cloud-node.ts';
import { drainDeadline, SPOT_DRAIN_DEFAULTS } from './cloud/drain-deadline.ts';
import { type ImdsClient, ImdsError } from './cloud/imds-client.ts';
import { InterruptionWatch, interruptionNote } from './cloud/interruption-watch.ts';
import { type PilotConfig, PilotConfigError, resolvePilotConfig } from './config.ts';
import { SqsRangeQueueClient } from './consumer/sqs-range-queue-client.ts';
import { EXIT_CODES } from './exit-codes.ts';
import { freeDiskMB } from './health/disk-space.ts';
import { runHealthChecks } from './health/run-health-checks.ts';
import { readNodeInfo } from './node-info.ts';
import { Pilot } from './pilot.ts';
import { S3Storage } from './s3-storage.ts';
import { SqsSiteQueue } from './sqs-site-queue.ts';
import { isPilotCredentials, VendedCredentials } from './vended-credentials.ts';
import { resolveWalltime } from './walltime.ts';

/** A long poll waits up to 20 s; its request may take that long, and a little more. */
const LONG_POLL_TIMEOUT_MS = 30_000;
/** Stage-in and stage-out move files: a request stalls only when no byte moves for this long. */
const TRANSFER_TIMEOUT_MS = 60_000;

/** Runs the pilot with the flags commander parsed; resolves to the exit code. */
export async function runCommand(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let config: PilotConfig;
  try {
    config = resolvePilotConfig(flags, env);
  } catch (error) {
    if (!(error instanceof PilotConfigError)) throw error;
    process.stderr.write(`gluon-pilot: ${error.message}\nSee 'gluon-pilot run --help'.\n`);
    return EXIT_CODES.USAGE;
  }
  const logger = createLogger({ level: config.logLevel, base: { siteId: config.siteId }, write: toStderr });
  const walltime = await resolveWalltime({
    ...(config.walltimeSec === undefined ? {} : { configuredSec: config.walltimeSec }),
    env,
    nowMs: Date.now(),
  });
  logger.info('starting', {
    walltimeSec: walltime.walltimeSec,
    walltimeFrom: walltime.source,
    ...(walltime.cappedFromSec === undefined ? {} : { walltimeConfiguredSec: walltime.cappedFromSec }),
    batchId: config.batchId,
  });

  let cloud: CloudSetting;
  try {
    cloud = await readCloudNode(config, env);
  } catch (error) {
    if (!(error instanceof ImdsError)) throw error;
    logger.error('--cloud ec2: cannot read the instance metadata', { error: error.message });
    return EXIT_CODES.FAILURE;
  }
  if (cloud.cloud !== undefined) logger.info('cloud node', { ...cloud.cloud });

  const api = new GluonClient({ baseUrl: config.apiUrl, token: config.token, logger });
  const aws = new AwsClients(config, api, logger);
  const pilot = new Pilot(
    { ...config, walltimeSec: walltime.walltimeSec },
    {
      api,
      logger,
      node: readNodeInfo(),
      ...(cloud.cloud === undefined ? {} : { cloud: cloud.cloud }),
      checkHealth: (workRoot) =>
        runHealthChecks({
          workRoot,
          apiUrl: config.apiUrl,
          token: config.token,
          cores: config.cores,
          memoryMB: config.memoryMB,
          minFreeDiskMB: config.minFreeDiskMB,
          maxLoadPerCore: config.maxLoadPerCore,
          maxClockSkewSec: config.maxClockSkewSec,
          minTokenLifetimeSec: config.minTokenLifetimeSec,
          requirePaths: config.requirePaths,
        }),
      freeDiskMB: (path) => freeDiskMB(path),
      onRegistered: (registration) => aws.useCredentialsOf(registration),
      openQueue: (queueUrl) => new SqsSiteQueue(aws.sqs(), queueUrl),
      openStorage: (bucket) => new S3Storage(aws.s3(), bucket, { logger }),
      openRangeQueue: (queueUrl) => new SqsRangeQueueClient(aws.sqs(), queueUrl),
      openLeases: (tableName) =>
        new DynamoDbPilotLeaseStore(dynamoDbDocumentClient(aws.dynamodb()), tableName),
    },
  );

  const stopSignals = handleSignals(pilot, config, logger);
  const watch = cloud.imds === undefined ? undefined : watchInterruptions(cloud.imds, pilot, config, logger);
  try {
    watch?.start();
    return await pilot.run();
  } finally {
    stopSignals();
    await watch?.stop();
    aws.close();
  }
}

/** The drain's hard end: past it the payloads are killed and the pilot exits with DRAIN_TIMEOUT. */
function exitAfterDrain(pilot: Pilot, drainMs: number, logger: Logger): void {
  setTimeout(() => {
    logger.error('drain did not finish in time; exiting', { drainSec: drainMs / 1000 });
    pilot.killPayloadNow();
    process.exit(EXIT_CODES.DRAIN_TIMEOUT);
  }, drainMs).unref();
}

/**
 * An EC2 pilot's reaction to the instance's warnings: a Spot interruption notice drains it before
 * the notice's time (drain-deadline.ts); a rebalance recommendation retires it (no new job, the
 * running ones end, then it exits, and with the last pilot the instance).
 */
function watchInterruptions(
  imds: ImdsClient,
  pilot: Pilot,
  config: PilotConfig,
  logger: Logger,
): InterruptionWatch {
  return new InterruptionWatch({
    imds,
    pollSec: config.imdsPollSec,
    logger,
    onInterruption: (notice) => {
      const timing = drainDeadline(notice.timeMs, Date.now(), {
        drainSec: config.drainSec,
        killGraceSec: config.killGraceSec,
        ...SPOT_DRAIN_DEFAULTS,
      });
      const note = interruptionNote(notice);
      logger.warn('draining before the Spot interruption', { note, ...timing });
      pilot.stop(note, { drainMs: timing.drainMs, killAfterMs: timing.killAfterMs, note });
      exitAfterDrain(pilot, timing.drainMs, logger);
    },
    onRebalance: (recommendation) =>
      pilot.retire(`EC2 rebalance recommendation (notice at ${recommendation.noticeTime})`),
  });
}

/**
 * First SIGTERM/SIGINT: drain, bounded by --drain-sec (past it the payload is killed and the pilot
 * exits with DRAIN_TIMEOUT). Second: kill the payload and exit at once with 128+N.
 */
function handleSignals(pilot: Pilot, config: PilotConfig, logger: Logger): () => void {
  let signalsSeen = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalsSeen++;
    if (signalsSeen === 1) {
      pilot.stop(signal);
      exitAfterDrain(pilot, config.drainSec * 1000, logger);
      return;
    }
    logger.error('second signal; exiting at once', { signal });
    pilot.killPayloadNow();
    process.exit(128 + (osConstants.signals[signal] ?? 15));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** The SQS, S3 and DynamoDB clients, made on first use with the credentials chosen at registration. */
class AwsClients {
  private readonly config: PilotConfig;
  private readonly api: GluonClient;
  private readonly logger: Logger;
  private vended: VendedCredentials | undefined;
  private sqsClient: SQSClient | undefined;
  private s3Client: S3Client | undefined;
  private dynamoDb: DynamoDBClient | undefined;

  constructor(config: PilotConfig, api: GluonClient, logger: Logger) {
    this.config = config;
    this.api = api;
    this.logger = logger;
  }

  /** --credentials: vended (required), environment (ignore vended ones), auto (vended when given). */
  useCredentialsOf(registration: RegisterPilotResponse): void {
    const given = registration.credentials;
    const mode = this.config.credentials;
    if (mode === 'environment') {
      this.logger.info('using the environment’s AWS credentials', { vendedIgnored: given !== undefined });
      return;
    }
    if (given === undefined || !isPilotCredentials(given)) {
      if (mode === 'vended') {
        throw new Error(
          given === undefined
            ? '--credentials vended, but the API vended no credentials at registration'
            : '--credentials vended, but the credentials the API vended are not usable',
        );
      }
      this.logger.info('the API vends no credentials; using the environment’s', {});
      return;
    }
    const pilotId = registration.pilotId;
    this.vended = new VendedCredentials(given, {
      renew: () => this.api.call('renewPilotCredentials', { params: { pilotId }, body: {} }, { retries: 2 }),
      logger: this.logger.child({ pilotId }),
    });
    this.vended.start();
    this.logger.info('using vended credentials', {
      pilotId,
      expiration: given.expiration,
      renewAt: new Date(this.vended.renewalDueAt).toISOString(),
    });
  }

  private credentials() {
    return this.vended === undefined ? {} : { credentials: this.vended.provider };
  }

  sqs(): SQSClient {
    this.sqsClient ??= sqsClient({
      ...this.credentials(),
      requestTimeoutMs: LONG_POLL_TIMEOUT_MS,
      maxAttempts: 3,
    });
    return this.sqsClient;
  }

  s3(): S3Client {
    this.s3Client ??= s3Client({
      ...this.credentials(),
      requestTimeoutMs: TRANSFER_TIMEOUT_MS,
      maxAttempts: 3,
    });
    return this.s3Client;
  }

  dynamodb(): DynamoDBClient {
    this.dynamoDb ??= dynamoDbClient({ ...this.credentials(), maxAttempts: 2 });
    return this.dynamoDb;
  }

  close(): void {
    this.vended?.stop();
    this.sqsClient?.destroy();
    this.s3Client?.destroy();
    this.dynamoDb?.destroy();
  }
}
