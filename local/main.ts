/**
 * `npm start`: the whole of Gluon on this machine — DynamoDB Local, fauxqs (SQS + S3), the task
 * workflow, the API, the schedules and a pilot factory — in the foreground until Ctrl-C.
 */
import { join, relative } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { consoleLog } from './log.ts';
import { LOCAL_JSON, type LocalStack, type LocalStackOptions, startLocalStack } from './stack.ts';

interface CliOptions {
  stateDir?: string;
  apiPort: number;
  dynamodbPort: number;
  sqsPort: number;
  sfnPort: number;
  pilots: number;
  site: string;
  leaseSec: number;
  heartbeatSec: number;
  rangeLeaseSec: number;
  reapEverySec: number;
  pilotIdleExitSec: number;
  inMemory?: boolean;
}

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

const program = new Command('npm start --')
  .description('Run Gluon on this machine: AWS stand-ins, the API, the task workflow, schedules and pilots.')
  .option('--state-dir <dir>', 'where data, logs, keys and local.json live (default: .gluon in the checkout)')
  .option('--api-port <port>', 'API port on 127.0.0.1 (0 = any free port)', integer(0, 65535), 8642)
  .option('--dynamodb-port <port>', 'DynamoDB Local port (0 = any)', integer(0, 65535), 8643)
  .option('--sqs-port <port>', 'fauxqs (SQS and S3) port (0 = any)', integer(0, 65535), 8644)
  .option('--sfn-port <port>', 'local Step Functions port (0 = any)', integer(0, 65535), 8645)
  .option('--pilots <n>', 'most pilot processes running at once', integer(0, 256), 4)
  .option('--site <id>', 'id of the local site', 'local')
  .option(
    '--lease-sec <sec>',
    'a pilot whose lease is not renewed for this long is lost and its jobs run again elsewhere',
    integer(5, 86_400),
    30,
  )
  .option('--heartbeat-sec <sec>', 'how often pilots renew their lease', integer(1, 3600), 5)
  .option(
    '--range-lease-sec <sec>',
    "an event range a consumer holds this long without extending its lease is another consumer's (the range queue's visibility timeout)",
    integer(5, 43_200),
    20,
  )
  .option('--reap-every-sec <sec>', 'how often the reaper sweeps the pilot leases', integer(1, 3600), 3)
  .option(
    '--pilot-idle-exit-sec <sec>',
    'a pilot leaves after this long without a job',
    integer(1, 86_400),
    30,
  )
  .option('--in-memory', 'keep DynamoDB, SQS and S3 data in memory only (lost on exit)')
  .addHelpText(
    'after',
    `
Once it runs, from another terminal in this checkout:
  npm run gluon -- submit examples/zmumu/task.yaml --watch
  npm run gluon -- tasks
The CLI finds the API URL and a token in .gluon/${LOCAL_JSON} (or in $GLUON_HOME/${LOCAL_JSON}).`,
  );

/**
 * fauxqs keeps its data with node:sqlite, which Node 22 flags as experimental on every start; that
 * line only confuses a first-time user, so it alone is dropped.
 */
function quietSqliteWarning(): void {
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.includes('SQLite is an experimental feature')) return;
    (emitWarning as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}

async function main(): Promise<void> {
  program.parse();
  quietSqliteWarning();
  const cli = program.opts<CliOptions>();
  const options: LocalStackOptions = {
    stateDir: cli.stateDir,
    apiPort: cli.apiPort,
    dynamodbPort: cli.dynamodbPort,
    sqsPort: cli.sqsPort,
    sfnPort: cli.sfnPort,
    pilots: cli.pilots,
    siteId: cli.site,
    leaseSec: cli.leaseSec,
    heartbeatSec: cli.heartbeatSec,
    rangeLeaseSec: cli.rangeLeaseSec,
    reapEverySec: cli.reapEverySec,
    pilotIdleExitSec: cli.pilotIdleExitSec,
    inMemory: cli.inMemory === true,
    log: consoleLog,
  };

  let starting: Promise<LocalStack> | undefined;
  let exiting = false;
  const shutdown = async (code: number, why: string): Promise<void> => {
    if (exiting) {
      consoleLog('warn', 'stopping already; press Ctrl-C again to quit at once');
      return;
    }
    exiting = true;
    consoleLog('info', `${why}: stopping (pilots first; this can take a few seconds)`);
    try {
      // A stop during start waits for the start to finish (or fail, which cleans up by itself).
      const stack = await starting?.catch(() => undefined);
      await stack?.stop();
    } catch (error) {
      consoleLog('error', 'stop failed', { error });
      code = code === 0 ? 1 : code;
    }
    process.exit(code);
  };
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts += 1;
    if (interrupts > 2) process.exit(130);
    void shutdown(0, 'interrupted');
  });
  process.on('SIGTERM', () => void shutdown(0, 'terminated'));
  process.on('SIGHUP', () => void shutdown(0, 'hung up'));
  process.on('uncaughtException', (error) => {
    consoleLog('error', 'uncaught error', { error });
    void shutdown(1, 'crashed');
  });
  process.on('unhandledRejection', (error) => {
    consoleLog('error', 'unhandled rejection', { error });
    void shutdown(1, 'crashed');
  });

  starting = startLocalStack(options);
  let stack: LocalStack;
  try {
    stack = await starting;
  } catch (error) {
    consoleLog('error', `could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  if (exiting) return;
  const localJson = join(stack.stateDir, LOCAL_JSON);
  const nearby = relative(process.cwd(), localJson);
  const where = nearby.startsWith('..') ? localJson : nearby;
  const cliHint = where === join('.gluon', LOCAL_JSON) ? '' : `GLUON_HOME=${stack.stateDir} `;
  const lines = [
    '',
    `Gluon runs locally.`,
    `  API            ${stack.apiUrl}`,
    `  web monitor    ${stack.apiUrl}/web/index.html#token=${stack.userToken}`,
    `  CLI settings   ${where} (API URL and a user token; mode 0600)`,
    `  pilots         up to ${options.pilots} at a time, logs in ${join(stack.stateDir, 'logs')}`,
    '',
    'Try, from another terminal in this checkout:',
    `  ${cliHint}npm run gluon -- submit examples/zmumu/task.yaml --watch`,
    `  ${cliHint}npm run gluon -- tasks`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
