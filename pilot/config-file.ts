/**
 * The pilot's config file (`--config FILE`): a YAML or JSON mapping whose keys are the long options
 * in camelCase (`apiUrl`, `idleExitSec`, `requirePath: [/cvmfs/a, /cvmfs/b]`). Values become the
 * strings a flag would have given, so that one zod schema validates every source alike.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { PilotConfigError } from './pilot-config-error.ts';

/** Key → value as a flag would give it (a list for repeatable options). */
export type ConfigFileValues = Record<string, string | string[]>;

const Scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const FileSchema = z.record(z.string(), z.union([Scalar, z.array(Scalar)]), {
  error: 'must be a mapping of option names to values',
});

function configError(message: string): PilotConfigError {
  return new PilotConfigError('--config', message);
}

/**
 * Reads and checks a config file. Unknown keys, lists for single-valued options and values that
 * are not scalars are errors naming the key and the file.
 */
export function loadConfigFile(
  path: string,
  knownKeys: ReadonlySet<string>,
  listKeys: ReadonlySet<string>,
): ConfigFileValues {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw configError(
      `cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw configError(
      `the config file ${path} is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw configError(`the config file ${path} must hold a mapping of option names to values`);
  }
  for (const key of Object.keys(document)) {
    if (knownKeys.has(key)) continue;
    const close = [...knownKeys].find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = close === undefined ? '' : ` (did you mean ${close}?)`;
    throw configError(
      `unknown key ${key} in the config file ${path}${hint}; keys are the long options of ` +
        `'gluon-pilot run' in camelCase, e.g. apiUrl, idleExitSec`,
    );
  }
  const parsed = FileSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? '');
    throw configError(
      `invalid value for key ${key} in the config file ${path}: must be a string, a number or a boolean` +
        (listKeys.has(key) ? ', or a list of them' : ''),
    );
  }
  for (const [key, value] of Object.entries(parsed.data)) {
    if (Array.isArray(value) && !listKeys.has(key)) {
      throw configError(
        `invalid value for key ${key} in the config file ${path}: must be a single value, not a list`,
      );
    }
  }
  return parsed.data;
}
