/**
 * The user's profiles, one per Gluon deployment, in a YAML file: `$GLUON_CONFIG`, else
 * `$XDG_CONFIG_HOME/gluon/config.yaml`, else `~/.config/gluon/config.yaml`.
 *
 *   current: prod
 *   profiles:
 *     prod: { apiUrl: https://api.gluon.example.org, tokenFile: /run/user/1000/bt_u1000 }
 *     local: { apiUrl: http://127.0.0.1:8642 }
 *
 * Tokens are not stored here (they are short-lived; a profile may name the file that holds one).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { fieldIssues } from '#core/errors.ts';
import { CliError } from './cli-error.ts';

export const ProfileNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a profile name: letters, digits, . _ - (up to 64)');

export const ProfileSchema = z.strictObject({
  apiUrl: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
  tokenFile: z.string().min(1).optional(),
});
export type Profile = z.infer<typeof ProfileSchema>;

export const ProfilesFileSchema = z.strictObject({
  current: ProfileNameSchema.optional(),
  profiles: z.record(ProfileNameSchema, ProfileSchema).default({}),
});
export type ProfilesFile = z.infer<typeof ProfilesFileSchema>;

/** Where the profiles file is, or undefined when neither GLUON_CONFIG, XDG_CONFIG_HOME nor HOME is set. */
export function profilesFilePath(env: Record<string, string | undefined>): string | undefined {
  if (env.GLUON_CONFIG) return env.GLUON_CONFIG;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'gluon', 'config.yaml');
  if (env.HOME) return join(env.HOME, '.config', 'gluon', 'config.yaml');
  return undefined;
}

/** The profiles file; an empty one when the file does not exist. A bad file is an error naming the field. */
export function readProfiles(path: string | undefined): ProfilesFile {
  if (path === undefined) return { profiles: {} };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, { exitCode: 2 });
  }
  let value: unknown;
  try {
    value = parseYaml(text) ?? {};
  } catch (error) {
    throw new CliError(`${path} is not YAML: ${(error as Error).message.trim()}`, { exitCode: 2 });
  }
  const parsed = ProfilesFileSchema.safeParse(value);
  if (!parsed.success) {
    throw new CliError(`invalid Gluon config file ${path}`, {
      exitCode: 2,
      issues: fieldIssues(parsed.error.issues),
    });
  }
  return parsed.data;
}

/** Writes the file whole (a new file renamed over the old), readable by the user alone. */
export function writeProfiles(path: string, file: ProfilesFile): void {
  const checked = ProfilesFileSchema.parse(file);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, stringifyYaml(checked), { mode: 0o600 });
  renameSync(temporary, path);
}

/** The profile to use and why: `--profile`, else GLUON_PROFILE, else the file's `current`. */
export function chooseProfile(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  file: ProfilesFile,
  path: string | undefined,
): { name: string; profile: Profile; explicit: boolean } | undefined {
  const [name, from] =
    flag !== undefined && flag !== ''
      ? [flag, '--profile']
      : env.GLUON_PROFILE
        ? [env.GLUON_PROFILE, 'GLUON_PROFILE']
        : [file.current, 'the current profile'];
  if (name === undefined) return undefined;
  const profile = file.profiles[name];
  if (profile === undefined) {
    const known = Object.keys(file.profiles);
    throw new CliError(
      `no profile ${JSON.stringify(name)} (from ${from}) in ${path ?? 'the Gluon config file'}; ` +
        (known.length === 0
          ? 'create one with `gluon config set api-url URL --profile NAME`'
          : `known: ${known.join(', ')}`),
      { exitCode: 2 },
    );
  }
  return { name, profile, explicit: from === '--profile' };
}
