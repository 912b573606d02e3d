/**
 * The pilot's configuration. Each option comes from, in order of precedence: its command-line
 * flag, its GLUON_* environment variable, the config file (`--config FILE`, YAML or JSON, keys
 * named like the long options in camelCase), or its default. Every value is validated with zod;
 * a bad one is reported naming the flag, the variable and (when it came from there) the file key.
 */

import { statfsSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { SiteIdSchema } from '#core/sites/site.ts';
import { LOG_LEVELS, type LogLevel } from '#platform/logger.ts';
import { DEFAULT_IMDS_ENDPOINT } from './cloud/imds-client.ts';
import { type ConfigFileValues, loadConfigFile } from './config-file.ts';
import { availableMemoryMB } from './health/memory.ts';
import { PilotConfigError } from './pilot-config-error.ts';

export { PilotConfigError };

export const LOG_CAP_ACTIONS = ['kill', 'truncate'] as const;
export type LogCapAction = (typeof LOG_CAP_ACTIONS)[number];
export const CREDENTIAL_MODES = ['auto', 'vended', 'environment'] as const;
export type CredentialMode = (typeof CREDENTIAL_MODES)[number];
export const CLOUD_PROVIDERS = ['ec2', 'batch'] as const;
export type CloudProvider = (typeof CLOUD_PROVIDERS)[number];

export interface PilotConfig {
  apiUrl: string;
  token: string;
  siteId: string;
  /** Parent of the jobs' work directories; undefined: a new directory under the system tmpdir. */
  workDir?: string;
  cores: number;
  memoryMB: number;
  diskMB: number;
  /** The pilot's own lifetime; undefined: from the batch system (Slurm), else 86400. */
  walltimeSec?: number;
  /** No new job is taken when less than this much of the pilot's lifetime is left. */
  minJobWalltimeSec: number;
  idleExitSec: number;
  pollWaitSec: number;
  maxJobs?: number;
  /** Jobs run at once at most, within the cores, memory and disk offered (a multi-core pilot runs several single-core jobs). */
  jobsAtOnce: number;
  host: string;
  batchId?: string;
  tags: string[];
  logLevel: LogLevel;
  /** Time between SIGTERM and SIGKILL when the pilot ends a payload. */
  killGraceSec: number;
  /** After SIGTERM/SIGINT the pilot exits within this many seconds, whatever happens. */
  drainSec: number;
  /** Cap of one payload's captured log. */
  logCapMB: number;
  /** What happens when a payload's output passes the cap: kill it (OUTPUT_TOO_LARGE) or drop the rest. */
  logCapAction: LogCapAction;
  /** A payload with no new output and no file written in its work directory for this long is killed (LOOPING). */
  loopingSec: number;
  /** Health check before any work: free space of the work directory's file system. */
  minFreeDiskMB: number;
  /** Checked before each job: below this much free space the pilot takes no more work. */
  minFreeDiskRunningMB: number;
  /** Health check: 5-minute load average per CPU of the machine. */
  maxLoadPerCore: number;
  /** Health check: largest tolerated difference between this node's clock and the API's. */
  maxClockSkewSec: number;
  /** Health check: the token must be valid for at least this long. */
  minTokenLifetimeSec: number;
  /** Health check: these paths (software areas such as /cvmfs/atlas.cern.ch) must exist and be readable. */
  requirePaths: string[];
  /** Where the AWS credentials for SQS and S3 come from. */
  credentials: CredentialMode;
  /** Where the pilot runs in AWS: an EC2 instance (IMDS is read and watched) or an AWS Batch job; undefined: neither. */
  cloud?: CloudProvider;
  /** The instance metadata service (used only with cloud ec2). */
  imdsEndpoint: string;
  /** How often the Spot interruption notice and the rebalance recommendation are read (cloud ec2). */
  imdsPollSec: number;
  /** Pilots sharing this instance (set by `gluon-pilot cloud`): each pays its part of the instance's price. */
  pilotsOnInstance: number;
}

type Key = keyof PilotConfig;

export interface PilotOption {
  key: Key;
  flag: string;
  env: string;
  description: string;
  /** How the default reads in --help. */
  defaultText?: string;
  required?: boolean;
  /** A repeatable flag; in the variable the values are separated by `separator`, in the file it is a list. */
  list?: { separator: string };
}

/** Every option of `gluon-pilot run` (but --config), in --help order. */
export const PILOT_OPTIONS: PilotOption[] = [
  {
    key: 'apiUrl',
    flag: '--api-url <url>',
    env: 'GLUON_API_URL',
    description: 'base URL of the Gluon API',
    required: true,
  },
  {
    key: 'token',
    flag: '--token <token>',
    env: 'GLUON_PILOT_TOKEN',
    description:
      'bearer token with the gluon.pilot scope (prefer the variable or the file: flags show in ps)',
    required: true,
  },
  {
    key: 'siteId',
    flag: '--site <siteId>',
    env: 'GLUON_SITE',
    description: 'site this pilot serves',
    required: true,
  },
  {
    key: 'workDir',
    flag: '--work-dir <dir>',
    env: 'GLUON_WORK_DIR',
    description: 'directory for the jobs’ work directories',
    defaultText: 'a new directory under the system tmpdir, removed at exit',
  },
  {
    key: 'cores',
    flag: '--cores <n>',
    env: 'GLUON_CORES',
    description: 'cores offered to jobs',
    defaultText: 'the CPUs this process may use',
  },
  {
    key: 'memoryMB',
    flag: '--memory-mb <n>',
    env: 'GLUON_MEMORY_MB',
    description: 'memory offered to jobs, in MB',
    defaultText: 'MemAvailable, or the cgroup’s limit when lower',
  },
  {
    key: 'diskMB',
    flag: '--disk-mb <n>',
    env: 'GLUON_DISK_MB',
    description: 'scratch disk offered to jobs, in MB',
    defaultText: 'free space of the work directory’s file system',
  },
  {
    key: 'walltimeSec',
    flag: '--walltime-sec <n>',
    env: 'GLUON_WALLTIME_SEC',
    description: 'lifetime of the pilot (capped by the batch job’s end and the token’s expiry)',
    defaultText: 'the Slurm job’s time left (SLURM_JOB_END_TIME, else squeue), else 86400',
  },
  {
    key: 'minJobWalltimeSec',
    flag: '--min-job-walltime-sec <n>',
    env: 'GLUON_MIN_JOB_WALLTIME_SEC',
    description: 'take no new job when less than this much lifetime is left',
    defaultText: '60',
  },
  {
    key: 'idleExitSec',
    flag: '--idle-exit-sec <n>',
    env: 'GLUON_IDLE_EXIT_SEC',
    description: 'exit after this long without a job',
    defaultText: '60',
  },
  {
    key: 'pollWaitSec',
    flag: '--poll-wait-sec <n>',
    env: 'GLUON_POLL_WAIT_SEC',
    description: 'long-poll wait on the site queue, 1–20 s',
    defaultText: '20',
  },
  {
    key: 'maxJobs',
    flag: '--max-jobs <n>',
    env: 'GLUON_MAX_JOBS',
    description: 'exit after running this many jobs',
    defaultText: 'unlimited',
  },
  {
    key: 'jobsAtOnce',
    flag: '--jobs-at-once <n>',
    env: 'GLUON_JOBS_AT_ONCE',
    description:
      'run up to this many jobs at once, as long as their cores, memory and disk fit what the pilot offers (1: one job at a time)',
    defaultText: 'the cores offered',
  },
  {
    key: 'host',
    flag: '--host <name>',
    env: 'GLUON_HOST',
    description: 'host name to report',
    defaultText: 'os.hostname()',
  },
  {
    key: 'batchId',
    flag: '--batch-id <id>',
    env: 'GLUON_BATCH_ID',
    description: 'id of the batch job that started this pilot',
    defaultText: 'AWS_BATCH_JOB_ID, else SLURM_JOB_ID, when set',
  },
  {
    key: 'tags',
    flag: '--tag <tag>',
    env: 'GLUON_TAGS',
    description: 'a tag to advertise (repeatable; comma-separated in the variable)',
    list: { separator: ',' },
  },
  {
    key: 'requirePaths',
    flag: '--require-path <path>',
    env: 'GLUON_REQUIRE_PATHS',
    description:
      'health check: this path (e.g. /cvmfs/atlas.cern.ch) must exist and be readable ' +
      '(repeatable; colon-separated in the variable)',
    list: { separator: ':' },
  },
  {
    key: 'minFreeDiskMB',
    flag: '--min-free-disk-mb <n>',
    env: 'GLUON_MIN_FREE_DISK_MB',
    description: 'health check: free space needed in the work directory’s file system before any work',
    defaultText: '2048',
  },
  {
    key: 'minFreeDiskRunningMB',
    flag: '--min-free-disk-running-mb <n>',
    env: 'GLUON_MIN_FREE_DISK_RUNNING_MB',
    description: 'free space needed before each further job (else the pilot stops, exit code 3)',
    defaultText: '1024',
  },
  {
    key: 'maxLoadPerCore',
    flag: '--max-load-per-core <x>',
    env: 'GLUON_MAX_LOAD_PER_CORE',
    description: 'health check: highest 5-minute load average per CPU of the machine',
    defaultText: '4',
  },
  {
    key: 'maxClockSkewSec',
    flag: '--max-clock-skew-sec <n>',
    env: 'GLUON_MAX_CLOCK_SKEW_SEC',
    description: 'health check: largest difference between this node’s clock and the API’s',
    defaultText: '120',
  },
  {
    key: 'minTokenLifetimeSec',
    flag: '--min-token-lifetime-sec <n>',
    env: 'GLUON_MIN_TOKEN_LIFETIME_SEC',
    description: 'health check: the token (a JWT) must be valid for at least this long',
    defaultText: '600',
  },
  {
    key: 'credentials',
    flag: '--credentials <mode>',
    env: 'GLUON_CREDENTIALS',
    description:
      'AWS credentials for SQS and S3: vended (from the API, renewed), environment (the SDK’s ' +
      'default chain: variables, profile, instance role) or auto (vended when the API vends them)',
    defaultText: 'auto',
  },
  {
    key: 'cloud',
    flag: '--cloud <provider>',
    env: 'GLUON_PILOT_CLOUD',
    description:
      'where the pilot runs in AWS: ec2 (reads the instance from IMDSv2, registers its type and market, and ' +
      'drains on a Spot interruption notice or a rebalance recommendation) or batch (an AWS Batch job)',
    defaultText: 'batch when AWS_BATCH_JOB_ID is set, else none',
  },
  {
    key: 'imdsEndpoint',
    flag: '--imds-endpoint <url>',
    env: 'GLUON_IMDS_ENDPOINT',
    description: 'instance metadata service (read only with --cloud ec2)',
    defaultText: 'http://169.254.169.254',
  },
  {
    key: 'imdsPollSec',
    flag: '--imds-poll-sec <n>',
    env: 'GLUON_IMDS_POLL_SEC',
    description:
      'with --cloud ec2: read the Spot interruption notice and the rebalance recommendation this often',
    defaultText: '5',
  },
  {
    key: 'pilotsOnInstance',
    flag: '--pilots-on-instance <n>',
    env: 'GLUON_PILOTS_ON_INSTANCE',
    description:
      'with --cloud ec2: pilots sharing the instance, each paying its part (set by gluon-pilot cloud)',
    defaultText: '1',
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: 'GLUON_LOG_LEVEL',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
    defaultText: 'info',
  },
  {
    key: 'killGraceSec',
    flag: '--kill-grace-sec <n>',
    env: 'GLUON_KILL_GRACE_SEC',
    description: 'seconds between SIGTERM and SIGKILL when a payload is ended',
    defaultText: '5',
  },
  {
    key: 'drainSec',
    flag: '--drain-sec <n>',
    env: 'GLUON_DRAIN_SEC',
    description: 'after SIGTERM/SIGINT: end the payload, report it and exit within this many seconds',
    defaultText: '30',
  },
  {
    key: 'logCapMB',
    flag: '--log-cap-mb <n>',
    env: 'GLUON_LOG_CAP_MB',
    description: 'cap of a payload’s captured stdout+stderr, in MiB',
    defaultText: '50',
  },
  {
    key: 'logCapAction',
    flag: '--log-cap-action <action>',
    env: 'GLUON_LOG_CAP_ACTION',
    description:
      'when a payload’s output passes the cap: kill (error 1104 OUTPUT_TOO_LARGE) or truncate (drop the rest)',
    defaultText: 'kill',
  },
  {
    key: 'loopingSec',
    flag: '--looping-sec <n>',
    env: 'GLUON_LOOPING_SEC',
    description:
      'kill a payload that wrote no output and no file in its work directory for this long (error 1103 LOOPING)',
    defaultText: '7200',
  },
];

/** The flag, variable and file key of --config itself. */
export const CONFIG_OPTION = {
  flag: '--config <file>',
  env: 'GLUON_CONFIG',
  description:
    'YAML or JSON file of options, keys named like the long options in camelCase (e.g. idleExitSec)',
} as const;

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const decimal = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number such as 2 or 2.5')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const YEAR_SEC = 366 * 24 * 3600;

const RawConfigSchema = z.strictObject({
  apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  token: z.string().regex(/^\S+$/, 'must not be empty or hold spaces'),
  siteId: SiteIdSchema,
  workDir: z.string().min(1, 'must not be empty').optional(),
  cores: int(1, 4096),
  memoryMB: int(1, 2 ** 30),
  diskMB: int(0, 2 ** 40),
  walltimeSec: int(0, YEAR_SEC).optional(),
  minJobWalltimeSec: int(0, YEAR_SEC),
  idleExitSec: int(1, YEAR_SEC),
  pollWaitSec: int(1, 20),
  maxJobs: int(1, 1_000_000_000).optional(),
  jobsAtOnce: int(1, 4096),
  host: z.string().min(1, 'must not be empty').max(255, 'must be at most 255 characters'),
  batchId: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters').optional(),
  tags: z
    .array(z.string().regex(/^[A-Za-z0-9._:=/+-]{1,64}$/, 'each tag: 1–64 letters, digits or . _ : = / + -'))
    .max(64, 'at most 64 tags'),
  requirePaths: z.array(z.string().regex(/^\//, 'each path must be absolute')).max(30, 'at most 30 paths'),
  minFreeDiskMB: int(0, 2 ** 40),
  minFreeDiskRunningMB: int(0, 2 ** 40),
  maxLoadPerCore: decimal(0, 10_000),
  maxClockSkewSec: int(1, YEAR_SEC),
  minTokenLifetimeSec: int(0, YEAR_SEC),
  credentials: z.enum(CREDENTIAL_MODES, { error: `must be one of ${CREDENTIAL_MODES.join(', ')}` }),
  cloud: z.enum(CLOUD_PROVIDERS, { error: `must be one of ${CLOUD_PROVIDERS.join(', ')}` }).optional(),
  imdsEndpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  imdsPollSec: int(1, 3600),
  pilotsOnInstance: int(1, 1024),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  killGraceSec: int(0, 600),
  drainSec: int(1, 3600),
  logCapMB: int(1, 10_240),
  logCapAction: z.enum(LOG_CAP_ACTIONS, { error: `must be one of ${LOG_CAP_ACTIONS.join(', ')}` }),
  loopingSec: int(1, YEAR_SEC),
});

/**
 * Free space of the file system `dir` is on; a work directory not made yet (the pilot makes it)
 * is on its nearest existing parent's.
 */
function freeDiskMB(dir: string): number {
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      const fs = statfsSync(at);
      return Math.floor((fs.bavail * fs.bsize) / 2 ** 20);
    } catch {
      if (dirname(at) === at) return 0;
    }
  }
}

type RawValue = string | string[];

/** Defaults that depend on the machine (computed only for options not given). */
function defaultFor(
  key: Key,
  chosen: Partial<Record<Key, RawValue>>,
  env: NodeJS.ProcessEnv,
): RawValue | undefined {
  switch (key) {
    case 'cores':
      return String(availableParallelism());
    case 'jobsAtOnce':
      return typeof chosen.cores === 'string' ? chosen.cores : String(availableParallelism());
    case 'memoryMB':
      return String(Math.max(1, availableMemoryMB().availableMB));
    case 'diskMB':
      return String(freeDiskMB(typeof chosen.workDir === 'string' ? chosen.workDir : tmpdir()));
    case 'minJobWalltimeSec':
      return '60';
    case 'idleExitSec':
      return '60';
    case 'pollWaitSec':
      return '20';
    case 'host':
      return hostname();
    case 'batchId':
      // An AWS Batch array child's id is `<job id>:<index>`.
      if (env.AWS_BATCH_JOB_ID !== undefined && env.AWS_BATCH_JOB_ID !== '') return env.AWS_BATCH_JOB_ID;
      return env.SLURM_JOB_ID === undefined || env.SLURM_JOB_ID === '' ? undefined : env.SLURM_JOB_ID;
    case 'cloud':
      return env.AWS_BATCH_JOB_ID === undefined || env.AWS_BATCH_JOB_ID === '' ? undefined : 'batch';
    case 'imdsEndpoint':
      return DEFAULT_IMDS_ENDPOINT;
    case 'imdsPollSec':
      return '5';
    case 'pilotsOnInstance':
      return '1';
    case 'tags':
    case 'requirePaths':
      return [];
    case 'minFreeDiskMB':
      return '2048';
    case 'minFreeDiskRunningMB':
      return '1024';
    case 'maxLoadPerCore':
      return '4';
    case 'maxClockSkewSec':
      return '120';
    case 'minTokenLifetimeSec':
      return '600';
    case 'credentials':
      return 'auto';
    case 'logLevel':
      return 'info';
    case 'killGraceSec':
      return '5';
    case 'drainSec':
      return '30';
    case 'logCapMB':
      return '50';
    case 'logCapAction':
      return 'kill';
    case 'loopingSec':
      return '7200';
    default:
      return undefined;
  }
}

type Source = 'flag' | 'env' | 'file' | 'default';

/**
 * Builds the configuration from flags (as parsed by commander: camel-cased flag names → strings,
 * or string arrays for repeatable flags), the environment and, when `--config`/GLUON_CONFIG names
 * one, a config file. Throws PilotConfigError naming the first bad option.
 */
export function resolvePilotConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): PilotConfig {
  const configPath = typeof flags.config === 'string' ? flags.config : env[CONFIG_OPTION.env] || undefined;
  let file: ConfigFileValues = {};
  if (configPath !== undefined) {
    file = loadConfigFile(configPath, new Set(PILOT_OPTIONS.map((o) => fileKey(o))), PILOT_LIST_KEYS);
  }

  const raw: Partial<Record<Key, RawValue>> = {};
  const source: Partial<Record<Key, Source>> = {};
  for (const option of PILOT_OPTIONS) {
    const flagValue = flags[fileKey(option)];
    const envValue = env[option.env];
    const fileValue = file[fileKey(option)];
    if (option.list !== undefined) {
      if (Array.isArray(flagValue) && flagValue.length > 0) {
        raw[option.key] = flagValue.map(String);
        source[option.key] = 'flag';
      } else if (envValue !== undefined && envValue !== '') {
        raw[option.key] = envValue.split(option.list.separator).filter((v) => v !== '');
        source[option.key] = 'env';
      } else if (fileValue !== undefined) {
        raw[option.key] = Array.isArray(fileValue) ? fileValue : [fileValue];
        source[option.key] = 'file';
      }
      continue;
    }
    if (typeof flagValue === 'string' && flagValue !== '') {
      raw[option.key] = flagValue;
      source[option.key] = 'flag';
    } else if (envValue !== undefined && envValue !== '') {
      raw[option.key] = envValue;
      source[option.key] = 'env';
    } else if (typeof fileValue === 'string') {
      raw[option.key] = fileValue;
      source[option.key] = 'file';
    }
  }
  for (const option of PILOT_OPTIONS) {
    if (raw[option.key] !== undefined) continue;
    if (option.required) {
      throw new PilotConfigError(
        flagName(option),
        `${flagName(option)} is required (or set ${option.env}, or ${fileKey(option)} in a --config file)`,
      );
    }
    const fallback = defaultFor(option.key, raw, env);
    if (fallback !== undefined) {
      raw[option.key] = fallback;
      source[option.key] = 'default';
    }
  }
  const result = RawConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = String(issue?.path[0] ?? '') as Key;
    const option = PILOT_OPTIONS.find((o) => o.key === key);
    const name = option ? flagName(option) : key;
    const given = raw[key];
    const shownValue = Array.isArray(given) ? given.join(', ') : (given ?? '');
    const shown = key === 'token' ? '' : ` (got '${shownValue}')`;
    const where =
      option === undefined
        ? ''
        : source[key] === 'file'
          ? ` / key ${fileKey(option)} in ${configPath}`
          : ` / ${option.env}`;
    throw new PilotConfigError(
      name,
      `invalid value for ${name}${where}: ${issue?.message ?? 'invalid'}${shown}`,
    );
  }
  return result.data;
}

/** `--memory-mb <n>` → `--memory-mb`. */
export function flagName(option: Pick<PilotOption, 'flag'>): string {
  return option.flag.split(' ')[0] as string;
}

/**
 * `--memory-mb <n>` → `memoryMb`: the property commander stores the value under, and the key of
 * the option in a config file.
 */
export function fileKey(option: Pick<PilotOption, 'flag'>): string {
  return flagName(option)
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

const PILOT_LIST_KEYS: ReadonlySet<string> = new Set(
  PILOT_OPTIONS.filter((o) => o.list !== undefined).map((o) => fileKey(o)),
);
