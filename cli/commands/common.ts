import { type Command, InvalidArgumentError, Option } from 'commander';
import { TaskIdSchema } from '#core/api/index.ts';
import { ApiClient } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import type { CliIo } from '../cli-io.ts';
import { resolveConfig } from '../config.ts';

/** Options every command takes. */
export interface CommonOptions {
  json?: boolean;
  apiUrl?: string;
  token?: string;
  profile?: string;
}

export function addCommonOptions(command: Command): Command {
  return command
    .option('--json', 'machine-readable JSON on stdout')
    .addOption(
      new Option('--api-url <url>', 'Gluon API endpoint (default: $GLUON_API_URL, else .gluon/local.json)'),
    )
    .addOption(
      new Option(
        '--token <jwt>',
        'bearer token (default: the profile, $GLUON_TOKEN, $BEARER_TOKEN(_FILE), bt_u$UID, .gluon/local.json)',
      ),
    )
    .addOption(
      new Option(
        '--profile <name>',
        'deployment profile from `gluon config` (default: $GLUON_PROFILE, else current)',
      ),
    );
}

/** An API client for the endpoint and token the flags, environment or `.gluon/local.json` give. */
export function clientFor(io: CliIo, options: CommonOptions): ApiClient {
  const config = resolveConfig({
    flags: { apiUrl: options.apiUrl, token: options.token, profile: options.profile },
    env: io.env,
    cwd: io.cwd,
  });
  return new ApiClient({ apiUrl: config.apiUrl, token: config.token, fetch: io.fetch });
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a whole number ≥ 1.');
  }
  return n;
}

/** A job index: a whole number ≥ 0 (commander names the argument in its error). */
export function parseJobIndex(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError('expected a job index, a whole number ≥ 0.');
  }
  return n;
}

export function parsePositiveSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected seconds > 0.');
  return n;
}

/** Rejects something that cannot be a task id before asking the API. */
export function checkTaskId(taskId: string): string {
  if (!TaskIdSchema.safeParse(taskId).success) {
    throw new CliError(`${JSON.stringify(taskId)} is not a task id (task ids look like t-01jd3k…)`, {
      exitCode: 2,
    });
  }
  return taskId;
}

export function printJson(io: CliIo, value: unknown, pretty = true): void {
  io.stdout.write(`${pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`);
}
