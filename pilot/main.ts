#!/usr/bin/env node
import { constants as osConstants } from 'node:os';
/**
 * `gluon-pilot`: the pilot that runs on worker nodes. `gluon-pilot run --help` lists its options.
 * Exit codes: 0 done (idle, max jobs, walltime or a drain after SIGTERM), 1 failure (e.g. the API
 * refused the registration), 2 bad command line or configuration.
 */
import { Command, CommanderError } from 'commander';
import { ApiClient } from './api-client.ts';
import { PILOT_OPTIONS, PilotConfigError, resolvePilotConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { Pilot } from './pilot.ts';
import { createS3Client, S3Storage } from './s3-storage.ts';
import { createSqsClient, SqsSiteQueue } from './sqs-site-queue.ts';
import { PILOT_VERSION } from './version.ts';

const EXIT_USAGE = 2;
/** After a first SIGTERM/SIGINT the pilot drains; past this it kills the payload and exits anyway. */
const DRAIN_DEADLINE_MS = 14_000;

function buildProgram(): Command {
  const program = new Command('gluon-pilot')
    .description('Gluon pilot: registers with the Gluon API, pulls jobs from its site queue and runs them')
    .version(PILOT_VERSION)
    .exitOverride();
  const run = program
    .command('run')
    .description(
      'register, then long-poll the site queue, claim, run, stage out and report jobs until idle, ' +
        'out of walltime, max jobs reached, or SIGTERM (which drains: the payload is ended and reported as evicted)',
    )
    .exitOverride()
    .action(async (flags: Record<string, unknown>) => {
      process.exitCode = await runCommand(flags);
    });
  for (const option of PILOT_OPTIONS) {
    const parts = [option.description, `[env ${option.env}]`];
    if (option.required) parts.push('(required)');
    else if (option.defaultText !== undefined) parts.push(`(default: ${option.defaultText})`);
    run.option(option.flag, parts.join(' '));
  }
  run.addHelpText(
    'after',
    '\nFlags win over GLUON_* variables, which win over defaults. AWS endpoints and region come from the\n' +
      'usual AWS_* variables (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_S3, AWS_REGION; region default us-east-1).',
  );
  return program;
}

async function runCommand(flags: Record<string, unknown>): Promise<number> {
  let config: ReturnType<typeof resolvePilotConfig>;
  try {
    config = resolvePilotConfig(flags);
  } catch (error) {
    if (!(error instanceof PilotConfigError)) throw error;
    process.stderr.write(`gluon-pilot: ${error.message}\nSee 'gluon-pilot run --help'.\n`);
    return EXIT_USAGE;
  }
  const logger = createLogger(config.logLevel, { siteId: config.siteId });
  const sqsClient = createSqsClient();
  const s3Client = createS3Client();
  const pilot = new Pilot(config, {
    api: new ApiClient({ baseUrl: config.apiUrl, token: config.token, logger }),
    openQueue: (queueUrl) => new SqsSiteQueue(sqsClient, queueUrl),
    openStorage: (bucket) => new S3Storage(s3Client, bucket, { logger }),
    logger,
  });

  let signalsSeen = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalsSeen++;
    if (signalsSeen === 1) {
      pilot.stop(signal);
      setTimeout(() => {
        logger.error('drain did not finish in time; exiting', { deadlineMs: DRAIN_DEADLINE_MS });
        pilot.killPayloadNow();
        process.exit(1);
      }, DRAIN_DEADLINE_MS).unref();
      return;
    }
    logger.error('second signal; exiting at once', { signal });
    pilot.killPayloadNow();
    process.exit(128 + (osConstants.signals[signal] ?? 15));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await pilot.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    sqsClient.destroy();
    s3Client.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Asked-for help and version end with 0; commander has printed the message of the others.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    process.stderr.write(`gluon-pilot: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
