import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { fieldIssues } from '#core/errors.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, type CliIo, writeLine } from '../cli-io.ts';
import { resolveConfig } from '../config.ts';
import {
  type Profile,
  ProfileNameSchema,
  ProfileSchema,
  type ProfilesFile,
  profilesFilePath,
  readProfiles,
  writeProfiles,
} from '../profiles.ts';
import { renderTable } from '../render.ts';
import { printJson } from './common.ts';

/** The settings of a profile, as typed on the command line → as stored. */
const KEYS = { 'api-url': 'apiUrl', 'token-file': 'tokenFile' } as const satisfies Record<
  string,
  keyof Profile
>;
type Key = keyof typeof KEYS;

const CONFIG_HELP = `
Profiles name the Gluon deployments you use; each has an API URL and, optionally, the file that
holds your token (tokens themselves are never written to the config file). The file is
$GLUON_CONFIG, else $XDG_CONFIG_HOME/gluon/config.yaml, else ~/.config/gluon/config.yaml.

A command uses --profile NAME, else $GLUON_PROFILE, else the current profile (\`gluon config use\`);
--api-url/--token, and $GLUON_API_URL/$GLUON_TOKEN unless --profile is given, win over it.
Its token is the first of: --token; $GLUON_TOKEN and the profile's token file (the profile's
first when --profile names it); WLCG Bearer Token
Discovery ($BEARER_TOKEN, the file $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID,
as htgettoken and oidc-agent write them); the local stack's .gluon/local.json.

Examples:
  gluon config set api-url https://gluon.example.org --profile prod
  gluon config set token-file '~/.tokens/gluon' --profile prod
  gluon config use prod
  gluon config list
  gluon config show --profile prod      # what a command would use, and from where`;

function parseKey(value: string): Key {
  if (!(value in KEYS)) throw new InvalidArgumentError(`expected one of: ${Object.keys(KEYS).join(', ')}.`);
  return value as Key;
}

function parseProfileName(value: string): string {
  if (!ProfileNameSchema.safeParse(value).success) {
    throw new InvalidArgumentError('expected a profile name: letters, digits, . _ - (up to 64).');
  }
  return value;
}

/** The file's path; an error when there is nowhere to keep one. */
function filePath(io: CliIo): string {
  const path = profilesFilePath(io.env);
  if (path === undefined) {
    throw new CliError('no place for the Gluon config file: set HOME, XDG_CONFIG_HOME or GLUON_CONFIG', {
      exitCode: 2,
    });
  }
  return path;
}

/** The profile a config command works on: --profile, else GLUON_PROFILE, else the current one. */
function targetProfile(io: CliIo, file: ProfilesFile, flag: string | undefined): string {
  const name = flag ?? (io.env.GLUON_PROFILE || undefined) ?? file.current;
  if (name === undefined) {
    throw new CliError('name the profile with --profile NAME (there is no current profile yet)', {
      exitCode: 2,
    });
  }
  return name;
}

export function registerConfig(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const config = program
    .command('config')
    .description('deployment profiles: API URL and token file per deployment')
    .addHelpText('after', CONFIG_HELP);

  config
    .command('set')
    .description('set a setting of a profile (creating it; the first profile becomes the current one)')
    .argument('<key>', `one of: ${Object.keys(KEYS).join(', ')}`, parseKey)
    .argument('<value>', 'the URL, or the path of the token file')
    .option(
      '--profile <name>',
      'the profile (default: $GLUON_PROFILE, else the current one)',
      parseProfileName,
    )
    .action((key: Key, value: string, options: { profile?: string }) => {
      const path = filePath(io);
      const file = readProfiles(path);
      const name = targetProfile(io, file, options.profile);
      const stored = key === 'token-file' && !value.startsWith('~/') ? resolve(io.cwd, value) : value;
      const candidate = { ...file.profiles[name], [KEYS[key]]: stored };
      const checked = ProfileSchema.safeParse(candidate);
      if (!checked.success) {
        const missingUrl = checked.error.issues.some(
          (i) => i.path[0] === 'apiUrl' && candidate.apiUrl === undefined,
        );
        throw new CliError(
          missingUrl
            ? `profile ${name} has no api-url yet: set it first (gluon config set api-url URL --profile ${name})`
            : `invalid ${key} for profile ${name}`,
          {
            exitCode: 2,
            issues: missingUrl ? [] : fieldIssues(checked.error.issues).map((i) => ({ ...i, field: key })),
          },
        );
      }
      const next: ProfilesFile = {
        ...(file.current === undefined ? { current: name } : { current: file.current }),
        profiles: { ...file.profiles, [name]: checked.data },
      };
      writeProfiles(path, next);
      writeLine(
        io.stdout,
        `profile ${name}: ${key} = ${stored}${file.current === undefined ? ' (now current)' : ''}`,
      );
    });

  config
    .command('get')
    .description('print a setting of a profile')
    .argument('<key>', `one of: ${Object.keys(KEYS).join(', ')}`, parseKey)
    .option(
      '--profile <name>',
      'the profile (default: $GLUON_PROFILE, else the current one)',
      parseProfileName,
    )
    .action((key: Key, options: { profile?: string }) => {
      const path = filePath(io);
      const file = readProfiles(path);
      const name = targetProfile(io, file, options.profile);
      const profile = file.profiles[name];
      if (profile === undefined) throw new CliError(`no profile ${name} in ${path}`, { exitCode: 1 });
      const value = profile[KEYS[key]];
      if (value === undefined) throw new CliError(`profile ${name} has no ${key}`, { exitCode: 1 });
      writeLine(io.stdout, value);
    });

  config
    .command('list')
    .description('list the profiles (* marks the current one)')
    .option('--json', 'machine-readable JSON on stdout')
    .action((options: { json?: boolean }) => {
      const path = filePath(io);
      const file = readProfiles(path);
      if (options.json) {
        printJson(io, { file: path, ...file });
        return;
      }
      const names = Object.keys(file.profiles).sort();
      if (names.length === 0) {
        writeLine(io.stdout, `no profiles in ${path} (add one: gluon config set api-url URL --profile NAME)`);
        return;
      }
      const rows = names.map((name) => {
        const profile = file.profiles[name] as Profile;
        return [name === file.current ? '*' : '', name, profile.apiUrl, profile.tokenFile ?? '-'];
      });
      io.stdout.write(renderTable(['', 'PROFILE', 'API URL', 'TOKEN FILE'], rows));
    });

  config
    .command('use')
    .description('make a profile the current one')
    .argument('<name>', 'a profile set before', parseProfileName)
    .action((name: string) => {
      const path = filePath(io);
      const file = readProfiles(path);
      if (file.profiles[name] === undefined) {
        const known = Object.keys(file.profiles);
        throw new CliError(
          `no profile ${name} in ${path}${known.length === 0 ? '' : ` (known: ${known.join(', ')})`}`,
          { exitCode: 2 },
        );
      }
      writeProfiles(path, { ...file, current: name });
      writeLine(io.stdout, `current profile: ${name}`);
    });

  config
    .command('show')
    .description('show the API URL and token source a command would use (the token itself is not printed)')
    .option('--profile <name>', 'as a command given --profile would')
    .option('--json', 'machine-readable JSON on stdout')
    .action((options: { profile?: string; json?: boolean }) => {
      const resolved = resolveConfig({ flags: { profile: options.profile }, env: io.env, cwd: io.cwd });
      const shown = { profile: resolved.profile ?? null, apiUrl: resolved.apiUrl, source: resolved.source };
      if (options.json) {
        printJson(io, shown);
        return;
      }
      writeLine(io.stdout, `profile:  ${shown.profile ?? '(none)'}`);
      writeLine(io.stdout, `API URL:  ${shown.apiUrl} (from ${shown.source.apiUrl})`);
      writeLine(io.stdout, `token:    from ${shown.source.token}`);
    });
}
