/**
 * The pilot factory's configuration: flags win over environment variables, which win over
 * defaults. Every value is validated with zod; a bad one is reported naming the flag and the
 * variable it can come from.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { SiteIdSchema } from '#core/sites/site.ts';
import { LOG_LEVELS, type LogLevel } from '#platform/logger.ts';
import { batchPluginNames } from './plugin-registry.ts';

export interface FactoryConfig {
  apiUrl: string;
  token: string;
  siteId: string;
  /** Batch plugin name (plugin-registry.ts). */
  batch: string;
  intervalSec: number;
  /** Most of our pilots waiting in the batch queue at once. */
  maxPending: number;
  /** Most of our pilots in the batch system at once; undefined: the site's maxPilots. */
  maxPilots?: number;
  /** The pilot executable on the worker nodes; undefined: this executable (single-executable builds). */
  pilotBinary?: string;
  /** Slot of one pilot; undefined: the site's slot from the demand answer. */
  cores?: number;
  memoryMB?: number;
  walltimeSec?: number;
  jobName: string;
  logDir: string;
  partition?: string;
  account?: string;
  /** Names (or `PREFIX*` patterns) of this environment's variables handed to the pilots. */
  pilotEnv: string[];
  logLevel: LogLevel;
  once: boolean;
}

type Key = Exclude<keyof FactoryConfig, 'once'>;

export interface FactoryOption {
  key: Key;
  flag: string;
  env: string;
  description: string;
  /** How the default reads in --help. */
  defaultText?: string;
  required?: boolean;
}

const DEFAULT_PILOT_ENV = 'AWS_REGION,AWS_DEFAULT_REGION,AWS_ENDPOINT_URL*';

/** Every option of `gluon-pilot factory` (but --once), in --help order. */
export const FACTORY_OPTIONS: FactoryOption[] = [
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
      'pilot token of the site (gluon.pilot scope); also handed to the pilots through the batch ' +
      "system's environment (prefer the variable: flags show in ps)",
    required: true,
  },
  {
    key: 'siteId',
    flag: '--site <siteId>',
    env: 'GLUON_SITE',
    description: 'site this factory fills with pilots',
    required: true,
  },
  {
    key: 'batch',
    flag: '--batch <name>',
    env: 'GLUON_FACTORY_BATCH',
    description: `batch system plugin: ${batchPluginNames().join(', ')}`,
    defaultText: 'slurm',
  },
  {
    key: 'intervalSec',
    flag: '--interval-sec <n>',
    env: 'GLUON_FACTORY_INTERVAL_SEC',
    description: 'seconds between two cycles (ask demand, count pilots, submit)',
    defaultText: '60',
  },
  {
    key: 'maxPending',
    flag: '--max-pending <n>',
    env: 'GLUON_FACTORY_MAX_PENDING',
    description: 'most pilots waiting in the batch queue at once (0 submits nothing)',
    defaultText: '10',
  },
  {
    key: 'maxPilots',
    flag: '--max-pilots <n>',
    env: 'GLUON_FACTORY_MAX_PILOTS',
    description:
      'most pilots in the batch system at once, pending or running; the site’s maxPilots caps it too',
    defaultText: 'the site’s maxPilots',
  },
  {
    key: 'pilotBinary',
    flag: '--pilot-binary <path>',
    env: 'GLUON_FACTORY_PILOT_BINARY',
    description: 'absolute path of the gluon-pilot executable on the worker nodes',
    defaultText: 'this executable, when it is the single-executable gluon-pilot (else required)',
  },
  {
    key: 'cores',
    flag: '--cores <n>',
    env: 'GLUON_FACTORY_CORES',
    description: 'cores of one pilot',
    defaultText: 'the site’s slot',
  },
  {
    key: 'memoryMB',
    flag: '--memory-mb <n>',
    env: 'GLUON_FACTORY_MEMORY_MB',
    description: 'memory of one pilot, in MB',
    defaultText: 'the site’s slot',
  },
  {
    key: 'walltimeSec',
    flag: '--walltime-sec <n>',
    env: 'GLUON_FACTORY_WALLTIME_SEC',
    description: 'batch time limit of one pilot (the pilot itself stops taking work a little earlier)',
    defaultText: 'the site’s slot',
  },
  {
    key: 'jobName',
    flag: '--job-name <name>',
    env: 'GLUON_FACTORY_JOB_NAME',
    description: 'batch job name of the pilots; the factory counts only jobs of this name and user',
    defaultText: 'gluon-pilot-<site>',
  },
  {
    key: 'logDir',
    flag: '--log-dir <dir>',
    env: 'GLUON_FACTORY_LOG_DIR',
    description: 'directory for the pilots’ batch output, visible from the worker nodes',
    defaultText: '~/gluon-pilot-logs/<site>',
  },
  {
    key: 'partition',
    flag: '--partition <name>',
    env: 'GLUON_FACTORY_PARTITION',
    description: 'batch partition (queue) of the pilots',
    defaultText: 'the batch system’s default',
  },
  {
    key: 'account',
    flag: '--account <name>',
    env: 'GLUON_FACTORY_ACCOUNT',
    description: 'batch account charged for the pilots',
    defaultText: 'the batch system’s default',
  },
  {
    key: 'pilotEnv',
    flag: '--pilot-env <names>',
    env: 'GLUON_FACTORY_PILOT_ENV',
    description:
      'comma-separated names of variables of this environment handed to the pilots; NAME* matches a ' +
      'prefix; the pilot token and PATH, HOME, USER, LANG, TZ, TMPDIR always go',
    defaultText: DEFAULT_PILOT_ENV,
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: 'GLUON_LOG_LEVEL',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
    defaultText: 'info',
  },
];

/** A bad or missing option; `option` is the flag (e.g. `--max-pending`). */
export class FactoryConfigError extends Error {
  override readonly name = 'FactoryConfigError';
  readonly code = 'FACTORY_CONFIG_INVALID';
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

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be letters, digits, ., _ or - (at most 64)');

const RawConfigSchema = z.strictObject({
  apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  token: z.string().regex(/^\S+$/, 'must not be empty or hold spaces'),
  siteId: SiteIdSchema,
  batch: z.string().refine((b) => batchPluginNames().includes(b), {
    error: `must be one of ${batchPluginNames().join(', ')}`,
  }),
  intervalSec: int(1, 86_400),
  maxPending: int(0, 100_000),
  maxPilots: int(0, 1_000_000).optional(),
  pilotBinary: z
    .string()
    .refine((p) => isAbsolute(p), { error: 'must be an absolute path' })
    .optional(),
  cores: int(1, 4096).optional(),
  memoryMB: int(1, 2 ** 30).optional(),
  walltimeSec: int(120, 366 * 24 * 3600).optional(),
  jobName: name,
  logDir: z
    .string()
    .min(1, 'must not be empty')
    .transform((d) => resolve(d)),
  partition: name.optional(),
  account: name.optional(),
  pilotEnv: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== ''),
    )
    .pipe(
      z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'must be variable names or NAME* prefixes')),
    ),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
});

function defaultFor(key: Key, chosen: Partial<Record<Key, string>>): string | undefined {
  switch (key) {
    case 'batch':
      return 'slurm';
    case 'intervalSec':
      return '60';
    case 'maxPending':
      return '10';
    case 'jobName':
      return `gluon-pilot-${chosen.siteId ?? 'site'}`;
    case 'logDir':
      return join(homedir(), 'gluon-pilot-logs', chosen.siteId ?? 'site');
    case 'pilotEnv':
      return DEFAULT_PILOT_ENV;
    case 'logLevel':
      return 'info';
    default:
      return undefined;
  }
}

/**
 * Builds the configuration from flags (as parsed by commander: camel-cased flag names → strings,
 * `once` a boolean) and the environment. Throws FactoryConfigError naming the first bad option.
 */
export function resolveFactoryConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): FactoryConfig {
  const raw: Partial<Record<Key, string>> = {};
  for (const option of FACTORY_OPTIONS) {
    const flagValue = flags[flagProperty(option.flag)];
    const value = typeof flagValue === 'string' ? flagValue : env[option.env];
    if (value !== undefined && value !== '') raw[option.key] = value;
  }
  for (const option of FACTORY_OPTIONS) {
    if (raw[option.key] !== undefined) continue;
    if (option.required) {
      throw new FactoryConfigError(
        flagName(option),
        `${flagName(option)} is required (or set ${option.env})`,
      );
    }
    const fallback = defaultFor(option.key, raw);
    if (fallback !== undefined) raw[option.key] = fallback;
  }
  const result = RawConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = String(issue?.path[0] ?? '') as Key;
    const option = FACTORY_OPTIONS.find((o) => o.key === key);
    const shownName = option ? flagName(option) : key;
    const shown = key === 'token' ? '' : ` (got '${raw[key] ?? ''}')`;
    throw new FactoryConfigError(
      shownName,
      `invalid value for ${shownName}${option ? ` / ${option.env}` : ''}: ${issue?.message ?? 'invalid'}${shown}`,
    );
  }
  return { ...result.data, once: flags.once === true };
}

/** `--max-pending <n>` → `--max-pending`. */
export function flagName(option: FactoryOption): string {
  return option.flag.split(' ')[0] as string;
}

/** `--memory-mb <n>` → `memoryMb`, the property commander stores the value under. */
function flagProperty(flag: string): string {
  return (flag.split(' ')[0] as string)
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The variables of `env` whose names match `patterns` (exact names, or `PREFIX*`). */
export function selectVariables(env: NodeJS.ProcessEnv, patterns: string[]): Record<string, string> {
  const selected: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const match = patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p));
    if (match) selected[key] = value;
  }
  return selected;
}
