import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { SharesView } from '#core/api/policies.ts';
import { ValidationError } from '#core/errors.ts';
import { parseShareTree } from '#core/policies/shares.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

function versionArg(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a version number (0, 1, 2, …)');
  return Number(value);
}

/** Reads a share tree from YAML or JSON and checks it as the API will, so bad fields show before sending. */
async function readShareFile(file: string): Promise<unknown> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, { exitCode: 2 });
  }
  let value: unknown;
  try {
    value = parseYaml(text, { prettyErrors: true });
    parseShareTree(value, 'shares');
  } catch (error) {
    const issues =
      error instanceof ValidationError
        ? error.issues
        : [{ field: path, message: (error as Error).message.trim() }];
    throw new CliError(`invalid share tree ${path}`, { exitCode: 2, issues });
  }
  return value;
}

function show(io: CliContext['io'], shares: SharesView): void {
  const { tree } = shares;
  writeLine(
    io.stdout,
    `shares version ${shares.version}${shares.updatedBy === undefined ? ' (the default: every user an equal share)' : `, set by ${shares.updatedBy} at ${shares.updatedAt}`}; usage half-life ${tree.halfLifeSec} s; users not named go to ${tree.defaultGroup}`,
  );
  const usageOf = (kind: 'user' | 'group', name: string) =>
    shares.usage.find((u) => u.kind === kind && u.name === name)?.usage ?? 0;
  const depth = (name: string | undefined): number => {
    let d = 0;
    for (let g = tree.groups.find((x) => x.name === name); g?.parent !== undefined; d++)
      g = tree.groups.find((x) => x.name === g?.parent);
    return d;
  };
  const rows = tree.groups.map((g) => [
    `${'  '.repeat(depth(g.name))}${g.name}`,
    'group',
    `${g.share}%`,
    g.cap === undefined ? '-' : String(g.cap),
    usageOf('group', g.name).toFixed(1),
  ]);
  for (const u of tree.users)
    rows.push([
      `${'  '.repeat(depth(u.group) + 1)}${u.user}`,
      `user in ${u.group}`,
      u.share === undefined ? 'equal' : `${u.share}%`,
      u.cap === undefined ? '-' : String(u.cap),
      usageOf('user', u.user).toFixed(1),
    ]);
  for (const u of shares.usage.filter((x) => x.kind === 'user' && !tree.users.some((n) => n.user === x.name)))
    rows.push([
      `${'  '.repeat(depth(tree.defaultGroup) + 1)}${u.name}`,
      `user in ${tree.defaultGroup}`,
      'equal',
      '-',
      u.usage.toFixed(1),
    ]);
  writeLine(io.stdout, renderTable(['NAME', 'KIND', 'SHARE', 'CAP (JOBS)', 'USAGE (CORES, DECAYED)'], rows));
  if (shares.dispatch.length > 0) {
    writeLine(io.stdout, '');
    writeLine(
      io.stdout,
      renderTable(
        ['TASK', 'OWNER', 'PRIORITY', 'RELEASED', 'JOBS', 'PAUSED'],
        shares.dispatch.map((d) => [
          d.taskId,
          d.owner,
          String(d.priority),
          String(d.released),
          String(d.jobCount),
          d.paused ? 'yes' : '',
        ]),
      ),
    );
  }
}

/** `gluon shares` and `gluon shares set FILE`: fair share between users and groups. */
export function registerShares(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const shares = addCommonOptions(
    program
      .command('shares')
      .description(
        'show the fair-share tree (groups, users, shares, caps), the decayed usage it is weighed against, and the tasks in dispatch',
      ),
  ).action(async (options: CommonOptions) => {
    const answer = await clientFor(io, options).call('getShares', {});
    if (options.json) printJson(io, answer);
    else show(io, answer);
  });
  addCommonOptions(
    shares
      .command('set')
      .description(
        'set the fair-share tree from a YAML or JSON file (needs gluon.admin): halfLifeSec, defaultGroup, ' +
          'groups [{name, parent?, share (percent of the parent; siblings add up to 100), cap?}], ' +
          'users [{user, group (a leaf group), share?, cap?}]. Dispatch follows it from its next round, for jobs already queued too.',
      )
      .argument('<file>', 'the share tree, YAML or JSON')
      .option('--expected-version <n>', 'refuse if the shares are no longer at this version', versionArg),
  ).action(async (file: string, _options: unknown, command: Command) => {
    // `shares` takes the same common options: commander gives them to whichever command is named first.
    const options = command.optsWithGlobals<CommonOptions & { expectedVersion?: number }>();
    const tree = (await readShareFile(file)) as Record<string, unknown>;
    const body = {
      ...tree,
      ...(options.expectedVersion === undefined ? {} : { expectedVersion: options.expectedVersion }),
    };
    const answer = await clientFor(io, options).call('putShares', { body: body as never });
    if (options.json) printJson(io, answer);
    else show(io, answer);
  });
}
