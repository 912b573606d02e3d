import { z } from 'zod';

/**
 * Data identifiers (Rucio's DIDs): `scope:name`. A scope is a namespace (a user's `user.<name>`, or
 * one an operator made for a group or a production); a name is unique within its scope, whether it
 * names a file or a dataset. Names stay boring: they end up in keys and S3 object names.
 */
export const ScopeSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$/,
    'a scope: letters, digits, . _ - (start with a letter or digit), at most 30 characters',
  );

export const DidNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,249}$/,
    'a name: letters, digits, . _ - (start with a letter or digit), at most 250 characters',
  );

export interface Did {
  scope: string;
  name: string;
}

/** `scope:name` as one string, checked; the API and the task spec name datasets so. */
export const DidSchema = z
  .string()
  .max(281)
  .superRefine((text, ctx) => {
    const parsed = parseDidText(text);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  });

export function didText(did: Did): string {
  return `${did.scope}:${did.name}`;
}

/** `scope:name` → its parts; a message saying what is wrong otherwise. */
export function parseDidText(text: string): Did | string {
  const colon = text.indexOf(':');
  if (colon < 0) return 'a data identifier scope:name (no ":" found)';
  const scope = ScopeSchema.safeParse(text.slice(0, colon));
  if (!scope.success) return scope.error.issues[0]?.message ?? 'not a scope';
  const name = DidNameSchema.safeParse(text.slice(colon + 1));
  if (!name.success) return name.error.issues[0]?.message ?? 'not a name';
  return { scope: scope.data, name: name.data };
}

/** Parses a DID known to be valid (validated at the edge); throws otherwise. */
export function parseDid(text: string): Did {
  const parsed = parseDidText(text);
  if (typeof parsed === 'string') throw new RangeError(`${text}: ${parsed}`);
  return parsed;
}

/**
 * A user's own scope (Rucio's `user.<account>`): the token subject, lower-cased, with anything but
 * letters, digits, . _ - turned into `-`, cut to fit a scope.
 */
export function userScope(sub: string): string {
  const account = sub
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return `user.${account || 'anonymous'}`.slice(0, 30);
}

/** The dataset a task's outputs are registered in when its spec names none: `<scope>:<task name>.output`. */
export function defaultOutputDataset(scope: string, taskName: string): Did {
  return { scope, name: `${taskName}.output` };
}

/**
 * The catalog name of output `output` of job `jobIndex` of task `taskId` (unique within the scope,
 * as the task id is): `<task name>.<taskId>._<jobIndex, 6 digits>.<output>` (Rucio's
 * `…._000001.pool.root` habit), so a listing sorts by job.
 */
export function outputFileName(taskName: string, taskId: string, jobIndex: number, output: string): string {
  return `${taskName}.${taskId}._${String(jobIndex).padStart(6, '0')}.${output}`.slice(0, 250);
}
