import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';
import { TaskIdSchema } from '#core/api/common.ts';
import type { JobReplayView, RetryPolicyView, TestRetryPolicyResponse } from '#core/api/retry-policy.ts';
import { ValidationError } from '#core/errors.ts';
import { parseRetryRuleSetText, type RetryRuleSetInput } from '#core/policies/retry-rules.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, type CliIo, writeLine } from '../cli-io.ts';
import { renderTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, parsePositiveInt, printJson } from './common.ts';

const RULES_HELP = `
A rule file (YAML or JSON) is a whole rule set; the first rule that matches a failure decides:

  description: more memory for reco, no retry of bad input
  systemRetryLimit: 10          # retries that spend no attempt, per job (infrastructure errors)
  otherwise: { type: retry }    # a failure no rule matches
  rules:
    - name: out-of-memory
      match: { pilotErrorCodes: [1102] }
      action: { type: retry-memory, factor: 2, ceilingMB: 8000 }
    - name: bad-input
      match: { pilotErrorCodes: [1001], exitCodes: [65] }
      action: { type: no-retry }
    - name: flaky-storage
      match: { message: "connection reset|timed out" }
      action: { type: retry-other-site, backoffSec: 120 }

match (each given criterion must hold): pilotErrorCodes, exitCodes, signals (SIGKILL, …),
message (a regular expression searched in the error message).
action type: no-retry, retry, retry-memory (factor > 1, ceilingMB), retry-walltime (factor > 1,
ceilingSec), retry-other-site; every retrying action takes backoffSec (0..900) and spendsAttempt
(default true; false: the retry uses none of the task's maxAttempts).
A task's own retry.memoryFactor / retry.walltimeFactor wins over the rule's factor.
\`gluon retry-policy show > rules.yaml\` gives the current rules as a file to edit.`;

/** Reads and checks a rule file; every bad field is named before anything is sent (exit 2). */
async function readRulesFile(file: string, cwd: string): Promise<RetryRuleSetInput> {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT' ? `rule file not found: ${path}` : `cannot read ${path}: ${(error as Error).message}`,
      { exitCode: 2 },
    );
  }
  try {
    return parseRetryRuleSetText(text, file);
  } catch (error) {
    if (error instanceof ValidationError)
      throw new CliError(`invalid retry rules ${path}`, { exitCode: 2, issues: error.issues });
    throw error;
  }
}

function parseVersion(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a version, a whole number ≥ 0.');
  return n;
}

function parseTaskIds(value: string): string[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = ids.filter((id) => !TaskIdSchema.safeParse(id).success);
  if (ids.length === 0 || bad.length > 0)
    throw new InvalidArgumentError(
      `expected task ids (t-…) separated by commas${bad.length > 0 ? `, not ${bad.join(', ')}` : ''}.`,
    );
  return ids;
}

/** The rules as a YAML file `set` takes back, after a comment saying which version they are. */
export function renderRetryPolicy(policy: RetryPolicyView): string {
  const who =
    policy.version === 0
      ? 'the built-in rules (no version stored)'
      : `stored${policy.createdBy === undefined ? '' : ` by ${policy.createdBy}`}${policy.createdAt === undefined ? '' : ` at ${policy.createdAt}`}`;
  return `# retry rules version ${policy.version}${policy.current ? ' (current)' : ''}: ${who}\n${stringify(policy.ruleSet).trimEnd()}`;
}

function signed(n: number, unit: string): string {
  return `${n > 0 ? '+' : ''}${n} ${unit}`;
}

/** One decision of a replay, in words: `retry-memory, 1500 MB`, `fail`, `retry, no attempt spent`. */
function decisionText(step: JobReplayView['current']): string {
  if (step === undefined) return '-';
  if (step.decision !== 'retry') return step.decision === 'fail' ? 'fail' : 'stopped before';
  const parts = [step.action ?? 'retry'];
  if (step.action === 'retry-memory' && step.next !== undefined) parts.push(`${step.next.memoryMB} MB`);
  if (step.action === 'retry-walltime' && step.next !== undefined) parts.push(`${step.next.walltimeSec} s`);
  if (step.spendsAttempt === false) parts.push('no attempt spent');
  if (step.backoffSec !== undefined && step.backoffSec > 0) parts.push(`after ${step.backoffSec} s`);
  return parts.join(', ');
}

export function renderReplay(answer: TestRetryPolicyResponse): string {
  const lines = [
    `Replayed ${answer.failures} failures of ${answer.jobs} jobs in ${answer.tasks.length} tasks against the current rules (version ${answer.currentVersion})${answer.truncated ? ' — stopped at the replay limit, more jobs had failures' : ''}:`,
    `  jobs rescued:             ${answer.jobsRescued}  (the proposed rules retry where the current ones give up)`,
    `  jobs that stop retrying:  ${answer.jobsStopRetrying}  (the proposed rules give up earlier)`,
    `  jobs retried differently: ${answer.jobsChanged}  (resources, back-off, site or attempts spent)`,
    `  extra memory asked for:   ${signed(answer.extraMemoryMB, 'MB')}`,
    `  extra walltime asked for: ${signed(answer.extraWalltimeSec, 's')}`,
  ];
  if (answer.changes.length > 0) {
    lines.push(
      renderTable(
        ['TASK', 'JOB', 'OUTCOME', 'ATTEMPT', 'ERROR', 'EXIT', 'CURRENT RULES', 'PROPOSED RULES', 'EXTRA MB'],
        answer.changes.map((c) => [
          c.taskId,
          String(c.jobIndex),
          c.outcome,
          c.attempt === undefined ? '-' : String(c.attempt),
          c.pilotErrorCode === undefined ? '-' : String(c.pilotErrorCode),
          c.exitCode === undefined ? '-' : String(c.exitCode),
          decisionText(c.current),
          decisionText(c.proposed),
          signed(c.extraMemoryMB, '').trim(),
        ]),
      ),
    );
  } else {
    lines.push('The proposed rules decide every recorded failure as the current ones do.');
  }
  lines.push(
    '(A replay judges decisions, not outcomes: whether a rescued job would then have succeeded is unknown.)',
  );
  return lines.join('\n');
}

function print(io: CliIo, options: CommonOptions, value: unknown, text: string): void {
  if (options.json) printJson(io, value);
  else writeLine(io.stdout, text);
}

/** `gluon retry-policy show|set|versions|test`: retry rules as data (changing them needs gluon.admin). */
export function registerRetryPolicy(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const group = program
    .command('retry-policy')
    .description('the retry rules: what a failed attempt turns into (show, set, versions, test)')
    .addHelpText('after', RULES_HELP);

  addCommonOptions(
    group
      .command('show')
      .description('print the current retry rules (or a version) as YAML that `set` takes back')
      .option('--version <n>', 'a stored version; 0: the built-in rules', parseVersion),
  ).action(async (options: CommonOptions & { version?: number }) => {
    const policy = await clientFor(io, options).call('getRetryPolicy', {
      query: options.version === undefined ? {} : { version: options.version },
    });
    print(io, options, policy, renderRetryPolicy(policy));
  });

  addCommonOptions(
    group
      .command('set')
      .argument('<file>', 'a rule file, YAML or JSON (see gluon retry-policy --help)')
      .description(
        'store the rules as the next version, which becomes current (needs gluon.admin); ' +
          'running functions use it within seconds, with no redeploy or restart',
      ),
  ).action(async (file: string, options: CommonOptions) => {
    const ruleSet = await readRulesFile(file, io.cwd);
    const policy = await clientFor(io, options).call('putRetryPolicy', { body: ruleSet });
    print(
      io,
      options,
      policy,
      `retry rules version ${policy.version} is current (${policy.ruleSet.rules.length} rules); failures are decided by it within seconds`,
    );
  });

  addCommonOptions(
    group.command('versions').description('list the versions of the retry rules, newest first'),
  ).action(async (options: CommonOptions) => {
    const client = clientFor(io, options);
    const items = [];
    let nextToken: string | undefined;
    do {
      const page = await client.call('listRetryPolicyVersions', {
        query: { limit: 100, ...(nextToken === undefined ? {} : { nextToken }) },
      });
      items.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    print(
      io,
      options,
      items,
      renderTable(
        ['VERSION', 'CURRENT', 'CREATED', 'BY', 'RULES', 'DESCRIPTION'],
        items.map((v) => [
          String(v.version),
          v.current ? 'yes' : '',
          v.createdAt ?? '-',
          v.createdBy ?? '-',
          String(v.rules),
          v.description ?? '',
        ]),
      ),
    );
  });

  addCommonOptions(
    group
      .command('test')
      .argument('<file>', 'proposed rules, YAML or JSON')
      .description(
        'replay the recorded failures of past tasks against the proposed rules and the current ones, ' +
          'and print what would change (nothing is written)',
      )
      .option('--tasks <ids>', "these tasks, comma-separated (operators may name anyone's)", parseTaskIds)
      .option('--limit <n>', 'else your N most recent tasks (default 10, at most 50)', parsePositiveInt),
  )
    .addHelpText(
      'after',
      '\nrescued: a job the proposed rules retry where the current ones give up (e.g. a job that failed\n' +
        'for good whose last failure they retry with more memory); extra memory/walltime: what the\n' +
        'attempts after the recorded failures would ask for, proposed minus current.',
    )
    .action(async (file: string, options: CommonOptions & { tasks?: string[]; limit?: number }) => {
      const ruleSet = await readRulesFile(file, io.cwd);
      const answer = await clientFor(io, options).call('testRetryPolicy', {
        body: {
          ruleSet,
          ...(options.tasks === undefined ? {} : { taskIds: options.tasks }),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
        },
      });
      print(io, options, answer, renderReplay(answer));
    });
}
