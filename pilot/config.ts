/**
 * The pilot's configuration: command-line flags win over GLUON_* environment variables, which win
 * over defaults. Every value is validated with zod; a bad one is reported naming the flag and
 * the variable it can come from.
 */

import { statfsSync } from 'node:fs';
import { availableParallelism, freemem, hostname, tmpdir, totalmem } from 'node:os';
import { z } from 'zod';
import { SiteIdSchema } from '#core/model/task-spec.ts';
import { LOG_LEVELS, type LogLevel } from './logger.ts';

export interface PilotConfig {
  apiUrl: string;
  token: string;
  siteId: string;
  /** Parent of the jobs' work directories; undefined: a new directory under the system tmpdir. */
  workDir?: string;
  cores: number;
  memoryMB: number;
  diskMB: number;
  /** The pilot's own lifetime. */
  walltimeSec: number;
  idleExitSec: number;
  pollWaitSec: number;
  maxJobs?: number;
  host: string;
  batchId?: string;
  logLevel: LogLevel;
  /** Time between SIGTERM and SIGKILL when the pilot ends a payload. */
  killGraceSec: number;
  /** Cap of one payload's captured log. */
  logCapMB: number;
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
}

/** Every option of `gluon-pilot run`, in --help order. */
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
    description: 'bearer token with the gluon.pilot scope (prefer the variable: flags show in ps)',
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
    defaultText: 'all of this machine',
  },
  {
    key: 'memoryMB',
    flag: '--memory-mb <n>',
    env: 'GLUON_MEMORY_MB',
    description: 'memory offered to jobs, in MB',
    defaultText: 'all of this machine',
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
    description: 'lifetime of the pilot; no new job is taken in its last 60 s',
    defaultText: '86400',
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
    key: 'logCapMB',
    flag: '--log-cap-mb <n>',
    env: 'GLUON_LOG_CAP_MB',
    description: 'cap of a payload’s captured stdout+stderr, in MiB',
    defaultText: '50',
  },
];

/** A bad or missing option; `option` is the flag (e.g. `--cores`). */
export class PilotConfigError extends Error {
  override readonly name = 'PilotConfigError';
  readonly option: string;
  constructor(option: string, message: string) {
    super(message);
    this.option = option;
  }
}

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const RawConfigSchema = z.strictObject({
  apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  token: z.string().regex(/^\S+$/, 'must not be empty or hold spaces'),
  siteId: SiteIdSchema,
  workDir: z.string().min(1, 'must not be empty').optional(),
  cores: int(1, 4096),
  memoryMB: int(1, 2 ** 30),
  diskMB: int(0, 2 ** 40),
  walltimeSec: int(1, 366 * 24 * 3600),
  idleExitSec: int(1, 366 * 24 * 3600),
  pollWaitSec: int(1, 20),
  maxJobs: int(1, 1_000_000_000).optional(),
  host: z.string().min(1, 'must not be empty').max(255, 'must be at most 255 characters'),
  batchId: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters').optional(),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  killGraceSec: int(0, 600),
  logCapMB: int(1, 10_240),
});

function freeDiskMB(dir: string): number {
  try {
    const fs = statfsSync(dir);
    return Math.floor((fs.bavail * fs.bsize) / 2 ** 20);
  } catch {
    return 0;
  }
}

/** Defaults that depend on the machine (computed only for options not given). */
function defaultFor(key: Key, chosen: Partial<Record<Key, string>>): string | undefined {
  switch (key) {
    case 'cores':
      return String(availableParallelism());
    case 'memoryMB':
      return String(Math.max(1, Math.floor(totalmem() / 2 ** 20) || Math.floor(freemem() / 2 ** 20)));
    case 'diskMB':
      return String(freeDiskMB(chosen.workDir ?? tmpdir()));
    case 'walltimeSec':
      return '86400';
    case 'idleExitSec':
      return '60';
    case 'pollWaitSec':
      return '20';
    case 'host':
      return hostname();
    case 'logLevel':
      return 'info';
    case 'killGraceSec':
      return '5';
    case 'logCapMB':
      return '50';
    default:
      return undefined;
  }
}

/**
 * Builds the configuration from flags (as parsed by commander: camel-cased flag names → strings)
 * and the environment. Throws PilotConfigError naming the first bad option.
 */
export function resolvePilotConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): PilotConfig {
  const raw: Partial<Record<Key, string>> = {};
  for (const option of PILOT_OPTIONS) {
    const flagValue = flags[flagProperty(option.flag)];
    const value = typeof flagValue === 'string' ? flagValue : env[option.env];
    if (value !== undefined && value !== '') raw[option.key] = value;
  }
  for (const option of PILOT_OPTIONS) {
    if (raw[option.key] !== undefined) continue;
    if (option.required) {
      throw new PilotConfigError(flagName(option), `${flagName(option)} is required (or set ${option.env})`);
    }
    const fallback = defaultFor(option.key, raw);
    if (fallback !== undefined) raw[option.key] = fallback;
  }
  const result = RawConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = String(issue?.path[0] ?? '') as Key;
    const option = PILOT_OPTIONS.find((o) => o.key === key);
    const name = option ? flagName(option) : key;
    const given = raw[key];
    const shown = key === 'token' ? '' : ` (got '${given ?? ''}')`;
    throw new PilotConfigError(
      name,
      `invalid value for ${name}${option ? ` / ${option.env}` : ''}: ${issue?.message ?? 'invalid'}${shown}`,
    );
  }
  return result.data;
}

/** `--memory-mb <n>` → `--memory-mb`. */
export function flagName(option: PilotOption): string {
  return option.flag.split(' ')[0] as string;
}

/** `--memory-mb <n>` → `memoryMb`, the property commander stores the value under. */
function flagProperty(flag: string): string {
  return (flag.split(' ')[0] as string)
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
