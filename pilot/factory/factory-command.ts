/**
 * `gluon-pilot factory`: the site's pilot factory agent (see pilot-factory-agent.ts). Exit codes:
 * 0 stopped by SIGTERM/SIGINT (or `--once` cycle done), 1 the `--once` cycle failed, 2 bad
 * command line or configuration.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isSea } from 'node:sea';
import type { Command } from 'commander';
import { createLogger, toStderr } from '#platform/logger.ts';
import { EXIT_CODES } from '../exit-codes.ts';
import { demandClient } from './demand-client.ts';
import {
  FACTORY_OPTIONS,
  FactoryConfigError,
  resolveFactoryConfig,
  selectVariables,
} from './factory-config.ts';
import { PilotFactoryAgent } from './pilot-factory-agent.ts';
import { createBatchPlugin } from './plugin-registry.ts';

/** Adds the `factory` subcommand to the gluon-pilot program. */
export function addFactoryCommand(program: Command): Command {
  const factory = program
    .command('factory')
    .description(
      'pilot factory of a site, for its edge node: every --interval-sec, asks the API for the site’s ' +
        'demand, counts its pilots in the batch system and submits what is missing, never more than ' +
        '--max-pending waiting in the batch queue; SIGTERM stops it (submitted pilots go on)',
    )
    .exitOverride()
    .action(async (flags: Record<string, unknown>) => {
      process.exitCode = await runFactoryCommand(flags);
    });
  for (const option of FACTORY_OPTIONS) {
    const parts = [option.description, `[env ${option.env}]`];
    if (option.required) parts.push('(required)');
    else if (option.defaultText !== undefined) parts.push(`(default: ${option.defaultText})`);
    factory.option(option.flag, parts.join(' '));
  }
  factory.option('--once', 'run one cycle and exit (exit code 1 if it failed)');
  factory.addHelpText(
    'after',
    '\nFlags win over the variables, which win over defaults. Each pilot runs\n' +
      '  <pilot-binary> run --api-url URL --site SITE --batch-id <batch job id> --walltime-sec N --cores N --memory-mb N\n' +
      'with GLUON_PILOT_TOKEN and the --pilot-env variables passed through the batch system’s environment.\n' +
      'The slot (cores, memory, walltime) comes from the site’s demand answer unless given here.\n' +
      '\nExit codes:\n' +
      '  0    stopped by SIGTERM/SIGINT, or the --once cycle worked\n' +
      '  1    the --once cycle failed (API or batch system unreachable; nothing was submitted)\n' +
      '  2    bad command line or configuration',
  );
  return factory;
}

/** The pilot binary to submit by default: this executable when it is the single-executable gluon-pilot. */
function defaultPilotBinary(): string | undefined {
  return isSea() ? process.execPath : undefined;
}

export async function runFactoryCommand(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let config: ReturnType<typeof resolveFactoryConfig>;
  let pilotBinary: string;
  try {
    config = resolveFactoryConfig(flags, env);
    const binary = config.pilotBinary ?? defaultPilotBinary();
    if (binary === undefined) {
      throw new FactoryConfigError(
        '--pilot-binary',
        '--pilot-binary is required (or set GLUON_FACTORY_PILOT_BINARY) when the factory does not run as ' +
          'the single-executable gluon-pilot (npm run build:pilot makes dist/gluon-pilot)',
      );
    }
    pilotBinary = binary;
  } catch (error) {
    if (!(error instanceof FactoryConfigError)) throw error;
    process.stderr.write(`gluon-pilot: ${error.message}\nSee 'gluon-pilot factory --help'.\n`);
    return EXIT_CODES.USAGE;
  }
  const logger = createLogger({ level: config.logLevel, base: { component: 'factory' }, write: toStderr });
  if (!existsSync(pilotBinary)) {
    logger.warn('the pilot binary is not on this machine; it must be on the worker nodes', { pilotBinary });
  }
  await mkdir(config.logDir, { recursive: true, mode: 0o700 });

  const agent = new PilotFactoryAgent(
    {
      apiUrl: config.apiUrl,
      token: config.token,
      siteId: config.siteId,
      intervalSec: config.intervalSec,
      maxPending: config.maxPending,
      pilotCommand: [pilotBinary],
      jobName: config.jobName,
      logDir: config.logDir,
      pilotEnv: selectVariables(env, config.pilotEnv),
      ...optional('maxPilots', config.maxPilots),
      ...optional('cores', config.cores),
      ...optional('memoryMB', config.memoryMB),
      ...optional('walltimeSec', config.walltimeSec),
      ...optional('partition', config.partition),
      ...optional('account', config.account),
    },
    {
      fetchDemand: demandClient({ apiUrl: config.apiUrl, token: config.token }),
      batch: createBatchPlugin(config.batch, { env, workRoot: join(config.logDir, 'work') }),
      logger,
    },
  );

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stop.signal.aborted) logger.info('stopping', { signal });
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await agent.run(stop.signal, { once: config.once });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
