/**
 * `gluon-pilot cloud`: the supervisor of an EC2 instance the provisioner started. It reads the
 * instance's identity and tags from IMDSv2, works out the pilots the instance runs (cloud-pilots.ts),
 * starts them as `gluon-pilot run --cloud ec2 …` children, forwards SIGTERM/SIGINT to them, and
 * exits when they all have. The launch template's user data then runs `shutdown -h now`, and the
 * instance's shutdown behaviour `terminate` ends it: an idle instance retires by itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import { isSea } from 'node:sea';
import type { Command } from 'commander';
import { instanceTypeInfo } from '#core/provisioning/prices.ts';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel, toStderr } from '#platform/logger.ts';
import { EXIT_CODES } from '../exit-codes.ts';
import { type CloudPilotPlan, CloudPlanError, type InstanceSize, planCloudPilots } from './cloud-pilots.ts';
import { DEFAULT_IMDS_ENDPOINT, ImdsClient, ImdsError, type InstanceIdentity } from './imds-client.ts';

const CLOUD_HELP =
  '\nOn start it reads, from the instance metadata service (IMDSv2; instance metadata tags enabled):\n' +
  '  the instance id, type, market (spot/on-demand) and availability zone, and the tags\n' +
  '  gluon:site, gluon:pilots (slot | instance), gluon:slot-cores, gluon:slot-memory-mb, gluon:idle-exit-sec.\n' +
  'The instance size comes from the dated table (core/provisioning/prices.ts), else from this machine.\n' +
  'Mode slot starts one pilot per slot that fits the instance (each offers the slot’s cores and memory);\n' +
  'mode instance starts one pilot offering the whole instance, running several jobs at once.\n' +
  'Each pilot runs as\n' +
  '  gluon-pilot run --cloud ec2 --site S --cores C --memory-mb M [--idle-exit-sec I] --pilots-on-instance N\n' +
  '                  --imds-endpoint URL [--api-url URL]\n' +
  'and gets the rest of its options (GLUON_PILOT_TOKEN, GLUON_* variables) from this environment. Each pilot\n' +
  'watches IMDS for a Spot interruption notice (it drains before the time given) and a rebalance\n' +
  'recommendation (it takes no new job and exits after the running ones). SIGTERM/SIGINT are passed on\n' +
  'to the pilots. When the last pilot has exited, so does this command (0); the user data then runs\n' +
  '`shutdown -h now` and the instance terminates.\n' +
  '\nExit codes:\n' +
  '  0    all pilots started have exited\n' +
  '  1    the instance metadata service did not answer, or no pilot could be started\n' +
  '  2    bad command line, or the instance’s tags are wrong (named in the message)\n';

export interface CloudCommandFlags {
  apiUrl?: string;
  imdsEndpoint?: string;
  logLevel?: string;
}

/** Adds the `cloud` subcommand to the gluon-pilot program. */
export function addCloudCommand(program: Command): Command {
  const cloud = program
    .command('cloud')
    .description(
      'supervisor of an EC2 instance started by the Gluon provisioner: reads the instance’s metadata and tags ' +
        '(IMDSv2), starts its pilots (one per slot, or one for the whole instance), and exits when they all have',
    )
    .option('--api-url <url>', 'base URL of the Gluon API, passed to the pilots [env GLUON_API_URL]')
    .option(
      '--imds-endpoint <url>',
      `instance metadata service [env GLUON_IMDS_ENDPOINT] (default: ${DEFAULT_IMDS_ENDPOINT})`,
    )
    .option(
      '--log-level <level>',
      `log level: ${LOG_LEVELS.join(', ')} [env GLUON_LOG_LEVEL] (default: info)`,
    )
    .action(async (flags: CloudCommandFlags) => {
      process.exitCode = await runCloudCommand(flags);
    });
  cloud.addHelpText('after', CLOUD_HELP);
  return cloud;
}

/** The size of the instance: the dated table's, else this machine's. */
export function instanceSize(instanceType: string): InstanceSize & { from: 'table' | 'machine' } {
  const info = instanceTypeInfo(instanceType);
  if (info !== undefined) return { vcpus: info.vcpus, memoryMiB: info.memoryMiB, from: 'table' };
  return { vcpus: availableParallelism(), memoryMiB: Math.floor(totalmem() / 2 ** 20), from: 'machine' };
}

/** The arguments of one pilot of the plan (after the program and entry script). */
export function pilotArgs(
  plan: CloudPilotPlan,
  options: { imdsEndpoint: string; apiUrl?: string | undefined },
): string[] {
  return [
    'run',
    '--cloud',
    'ec2',
    '--site',
    plan.siteId,
    '--cores',
    String(plan.cores),
    '--memory-mb',
    String(plan.memoryMB),
    ...(plan.idleExitSec === undefined ? [] : ['--idle-exit-sec', String(plan.idleExitSec)]),
    '--pilots-on-instance',
    String(plan.pilots),
    '--imds-endpoint',
    options.imdsEndpoint,
    ...(options.apiUrl === undefined ? [] : ['--api-url', options.apiUrl]),
  ];
}

/** How to start this same program again: the single executable itself, or Node with the entry script. */
function selfCommand(): { command: string; args: string[] } {
  if (isSea()) return { command: process.execPath, args: [] };
  const entry = process.argv[1];
  return { command: process.execPath, args: [...process.execArgv, ...(entry === undefined ? [] : [entry])] };
}

export async function runCloudCommand(
  flags: CloudCommandFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const levelText = flags.logLevel ?? (env.GLUON_LOG_LEVEL || 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(levelText)) {
    process.stderr.write(`gluon-pilot cloud: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return EXIT_CODES.USAGE;
  }
  const imdsEndpoint = flags.imdsEndpoint ?? (env.GLUON_IMDS_ENDPOINT || DEFAULT_IMDS_ENDPOINT);
  if (!/^https?:\/\/[^/]+\/?$/.test(imdsEndpoint)) {
    process.stderr.write(
      `gluon-pilot cloud: --imds-endpoint / GLUON_IMDS_ENDPOINT must be an http(s) base URL (got '${imdsEndpoint}')\n`,
    );
    return EXIT_CODES.USAGE;
  }
  const apiUrl = flags.apiUrl ?? (env.GLUON_API_URL || undefined);
  const logger = createLogger({ level: levelText as LogLevel, base: { command: 'cloud' }, write: toStderr });
  const imds = new ImdsClient({ endpoint: imdsEndpoint });

  let identity: InstanceIdentity;
  let plan: CloudPilotPlan;
  try {
    identity = await imds.identity();
    const size = instanceSize(identity.instanceType);
    plan = planCloudPilots(await imds.tags(), size, identity.instanceType);
    logger.info('instance read', {
      ...identity,
      vcpus: size.vcpus,
      memoryMiB: size.memoryMiB,
      sizeFrom: size.from,
    });
  } catch (error) {
    if (error instanceof CloudPlanError) {
      logger.error('cannot start pilots: the instance’s tags are wrong', { error: error.message });
      return EXIT_CODES.USAGE;
    }
    if (error instanceof ImdsError) {
      logger.error('cannot read the instance metadata', { error: error.message });
      return EXIT_CODES.FAILURE;
    }
    throw error;
  }
  logger.info('starting pilots', { ...plan });
  return superviseChildren(plan, pilotArgs(plan, { imdsEndpoint, apiUrl }), logger);
}

/** Starts the plan's pilots, passes signals on, and resolves once every one has exited. */
async function superviseChildren(plan: CloudPilotPlan, args: string[], logger: Logger): Promise<number> {
  const self = selfCommand();
  const children = new Set<ChildProcess>();
  const exits: Promise<void>[] = [];
  let started = 0;
  for (let index = 0; index < plan.pilots; index++) {
    const child = spawn(self.command, [...self.args, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.add(child);
    exits.push(
      new Promise<void>((resolve) => {
        child.once('error', (error) => {
          logger.error('could not start a pilot', { index, error });
          children.delete(child);
          resolve();
        });
        child.once('spawn', () => {
          started++;
          logger.info('pilot started', { index, pid: child.pid });
        });
        child.once('exit', (code, signal) => {
          logger.info('pilot exited', { index, pid: child.pid, code, signal });
          children.delete(child);
          resolve();
        });
      }),
    );
  }
  const forward = (signal: NodeJS.Signals): void => {
    logger.warn('passing the signal on to the pilots', { signal, pilots: children.size });
    for (const child of children) child.kill(signal);
  };
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGTERM', forward);
    process.off('SIGINT', forward);
  }
  logger.info('all pilots have exited', { started });
  return started === 0 ? EXIT_CODES.FAILURE : EXIT_CODES.OK;
}
