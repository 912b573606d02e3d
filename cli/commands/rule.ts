import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import type { RuleSchema } from '#core/api/rules.ts';
import { parseDidText } from '#core/catalog/did.ts';
import { RuleIdSchema } from '#core/transfers/rule.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable, shortTime } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

type RuleView = z.infer<typeof RuleSchema>;

const RULE_HELP = `
A replication rule (Rucio's) asks for copies of every file of a dataset (or of one file) on
storage endpoints. For each file, the rule's endpoints that already hold an available replica
count; the copies still missing go to its other endpoints, in the order given. The transfer
service (FTS's role) copies each file (in parts above 64 MiB), reads the copy back and checks its
size and adler32; a bad copy is deleted and tried again with exponential back-off, five attempts
in all. A rule is replicating, then ok (every copy available) or stuck (some given up).

Progress counts locks (one per file and chosen endpoint): available / copying / failed.

Rules are made by the writers of the DID's scope (your own user.<name>; operators anywhere).

Examples:
  gluon rule add user.alice:zmumu-gen.output --copies 2 --endpoints DATA-A,DATA-B
  gluon rule list --did user.alice:zmumu-gen.output
  gluon rule show r-mhx3k2a0q8f3z1c9w4
  gluon rule remove r-mhx3k2a0q8f3z1c9w4
`;

function parseDid(value: string): string {
  const parsed = parseDidText(value);
  if (typeof parsed === 'string') throw new InvalidArgumentError(parsed);
  return value;
}

function parseEndpoints(value: string): string[] {
  const endpoints = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (endpoints.length === 0)
    throw new InvalidArgumentError('give endpoint ids, comma-separated (DATA-A,DATA-B)');
  return endpoints;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

function checkRuleId(ruleId: string): void {
  if (!RuleIdSchema.safeParse(ruleId).success) {
    throw new CliError(`not a rule id: ${ruleId} (ids look like r-mhx3k2a0q8f3z1c9w4)`, { exitCode: 2 });
  }
}

/** `available/all copying failed`, all being the rule's locks. */
function progressOf(rule: RuleView): string {
  const { available, copying, failed } = rule.counters;
  return `${available}/${available + copying + failed}`;
}

function printRule(io: CliContext['io'], rule: RuleView): void {
  writeLine(io.stdout, `rule ${rule.ruleId}: ${rule.state}`);
  writeLine(io.stdout, `  did:       ${rule.did} (${rule.didType}, ${rule.counters.files} file(s))`);
  writeLine(io.stdout, `  copies:    ${rule.copies} on ${rule.endpoints.join(', ')}`);
  writeLine(
    io.stdout,
    `  progress:  ${rule.counters.available} available, ${rule.counters.copying} copying, ${rule.counters.failed} failed`,
  );
  writeLine(
    io.stdout,
    `  owner:     ${rule.owner}${rule.taskId === undefined ? '' : ` (for task ${rule.taskId})`}`,
  );
  writeLine(io.stdout, `  created:   ${shortTime(rule.createdAt)}, updated ${shortTime(rule.updatedAt)}`);
  if (rule.expiresAt !== undefined) writeLine(io.stdout, `  expires:   ${shortTime(rule.expiresAt)}`);
}

export function registerRule(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const rule = program
    .command('rule')
    .description('replication rules: copies of a dataset on storage endpoints, made by the transfer service')
    .addHelpText('after', RULE_HELP);

  addCommonOptions(
    rule
      .command('add')
      .description(
        'ask for copies of a dataset (or file) on endpoints; the missing ones are copied and verified',
      )
      .argument('<did>', 'scope:name of a dataset or a file', parseDid)
      .requiredOption(
        '--endpoints <ids>',
        'candidate endpoint ids in order of preference, comma-separated',
        parseEndpoints,
      )
      .option(
        '--copies <n>',
        'replicas wanted of each file (at most the number of endpoints)',
        parsePositive,
        1,
      )
      .option('--lifetime <sec>', 'the rule expires after this many seconds', parsePositive),
  ).action(
    async (
      did: string,
      options: CommonOptions & { endpoints: string[]; copies: number; lifetime?: number },
    ) => {
      const answer = await clientFor(io, options).call('addRule', {
        body: {
          did,
          copies: options.copies,
          endpoints: options.endpoints,
          ...(options.lifetime === undefined ? {} : { lifetimeSec: options.lifetime }),
        },
      });
      if (options.json) {
        printJson(io, answer);
        return;
      }
      writeLine(
        io.stdout,
        `rule ${answer.ruleId} added: ${answer.did}, ${answer.copies} cop${answer.copies === 1 ? 'y' : 'ies'} on ${answer.endpoints.join(', ')} (${answer.state}; ${answer.counters.copying} transfer(s) queued)`,
      );
    },
  );

  addCommonOptions(
    rule
      .command('list')
      .description('your rules (operators: everyone’s), newest first, with their progress')
      .option('--did <did>', 'only the rules of this dataset or file', parseDid)
      .option('--limit <n>', 'at most this many', parsePositive, 100),
  ).action(async (options: CommonOptions & { did?: string; limit: number }) => {
    const answer = await clientFor(io, options).call('listRules', {
      query: { limit: options.limit, ...(options.did === undefined ? {} : { did: options.did }) },
    });
    if (options.json) {
      printJson(io, answer);
      return;
    }
    if (answer.items.length === 0) {
      writeLine(io.stdout, 'no rules; add one with: gluon rule add SCOPE:NAME --endpoints A,B');
      return;
    }
    const rows = answer.items.map((r) => [
      r.ruleId,
      r.did,
      `${r.copies}@${r.endpoints.join(',')}`,
      r.state,
      progressOf(r),
      String(r.counters.copying),
      String(r.counters.failed),
      shortTime(r.updatedAt),
    ]);
    writeLine(
      io.stdout,
      renderTable(['RULE', 'DID', 'COPIES', 'STATE', 'OK', 'COPYING', 'FAILED', 'UPDATED'], rows),
    );
  });

  addCommonOptions(
    rule.command('show').description('one rule and its progress').argument('<id>', 'rule id (r-…)'),
  ).action(async (ruleId: string, options: CommonOptions) => {
    checkRuleId(ruleId);
    const answer = await clientFor(io, options).call('getRule', { params: { ruleId } });
    if (options.json) printJson(io, answer);
    else printRule(io, answer);
  });

  addCommonOptions(
    rule
      .command('remove')
      .description('stop a rule: pending transfers are dropped; the replicas made stay')
      .argument('<id>', 'rule id (r-…)'),
  ).action(async (ruleId: string, options: CommonOptions) => {
    checkRuleId(ruleId);
    const answer = await clientFor(io, options).call('removeRule', { params: { ruleId } });
    if (options.json) printJson(io, answer);
    else
      writeLine(
        io.stdout,
        `rule ${answer.ruleId} removed (${answer.counters.available} replica(s) made stay)`,
      );
  });
}
