import { type Command, InvalidArgumentError, Option } from 'commander';
import { csvText } from '#core/accounting/export-usage.ts';
import { ACCOUNTING_BY, type AccountingBy, DaySchema } from '#core/accounting/usage.ts';
import type { AccountingView } from '#core/api/accounting.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { formatSeconds, renderTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

/** A day as the API takes it (YYYY-MM-DD, UTC). */
function dayArg(value: string): string {
  if (!DaySchema.safeParse(value).success)
    throw new InvalidArgumentError('expected a day as YYYY-MM-DD (UTC).');
  return value;
}

/** The roll-up fields, in the order CSV shows them (the API's names). */
const FIELDS = [
  'day',
  'key',
  'attempts',
  'finished',
  'failed',
  'coreSec',
  'wallSec',
  'cpuSec',
  'hs23Sec',
  'maxRssMB',
] as const;

/** The cost fields, shown with --cost (CSV: after the roll-up fields). */
const COST_FIELDS = ['costUsd', 'usdPerJob'] as const;

/** `$0.0368`: dollars to the millionth, without trailing zeros; `-` for none. */
function dollars(usd: number | undefined): string {
  return usd === undefined ? '-' : `$${Number(usd.toFixed(6))}`;
}

/** The roll-ups as a table; with `cost`, each row's compute USD and USD per finished job, and their totals. */
export function renderAccountingTable(view: AccountingView, options: { cost?: boolean } = {}): string {
  if (view.rows.length === 0) return `no usage by ${view.by} from ${view.from} to ${view.to}`;
  const cost = options.cost === true;
  const rows = view.rows.map((r) => [
    r.day,
    r.key,
    String(r.attempts),
    String(r.finished),
    String(r.failed),
    formatSeconds(r.coreSec),
    formatSeconds(r.wallSec),
    formatSeconds(r.cpuSec),
    r.hs23Sec === undefined ? '-' : formatSeconds(r.hs23Sec),
    `${r.maxRssMB} MB`,
    ...(cost ? [dollars(r.costUsd), dollars(r.usdPerJob)] : []),
  ]);
  const table = renderTable(
    [
      'DAY',
      view.by.toUpperCase(),
      'ATTEMPTS',
      'FINISHED',
      'FAILED',
      'CORE TIME',
      'WALL',
      'CPU',
      'HS23',
      'MAX RSS',
      ...(cost ? ['COMPUTE USD', 'USD/JOB'] : []),
    ],
    rows,
  );
  if (!cost) return table;
  const usd = view.rows.reduce((sum, r) => sum + (r.costUsd ?? 0), 0);
  const finished = view.rows.reduce((sum, r) => sum + (r.costUsd === undefined ? 0 : r.finished), 0);
  const perJob = finished === 0 ? '' : ` (${dollars(usd / finished)} per finished job)`;
  return `${table}\ncompute at paid sites: ${dollars(usd)} for ${finished} finished jobs${perJob}; free sites cost nothing here`;
}

/** The roll-ups as CSV (the API's field names); with `cost`, costUsd and usdPerJob too. */
export function accountingCsv(view: AccountingView, options: { cost?: boolean } = {}): string {
  const fields = options.cost === true ? [...FIELDS, ...COST_FIELDS] : FIELDS;
  return csvText(
    fields,
    view.rows.map((r) => fields.map((field) => r[field])),
  );
}

export function registerAccounting(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const accounting = addCommonOptions(
    program
      .command('accounting')
      .description(
        'usage per day by user, group or site: attempts, core, wall and CPU time, HS23, memory; --cost: compute dollars',
      )
      .addOption(new Option('--by <what>', 'roll up by').choices(ACCOUNTING_BY).default('user'))
      .option('--from <day>', 'first day, YYYY-MM-DD (UTC; default: six days before --to)', dayArg)
      .option('--to <day>', 'last day, YYYY-MM-DD (UTC; default: today)', dayArg)
      .addOption(new Option('--csv', 'CSV on stdout (the API field names)').conflicts('json'))
      .option('--cost', 'also compute dollars at paid (cloud) sites, and per finished job'),
  )
    .addHelpText(
      'after',
      '\nUsers see their own usage (--by user); operators (gluon.admin) see every user, group and site.\n' +
        'One record per ended attempt counts on the day it ended; a range is at most 366 days.\n' +
        "--cost: attempts at paid (cloud) sites cost their wall time at their pilot's hourly price.\n" +
        'Operators export a day to the bucket as CSV and Parquet: gluon accounting export --day D.',
    )
    .action(
      async (
        options: CommonOptions & {
          by: AccountingBy;
          from?: string;
          to?: string;
          csv?: boolean;
          cost?: boolean;
        },
      ) => {
        if (options.from !== undefined && options.to !== undefined && options.from > options.to) {
          throw new CliError(`--from ${options.from} is after --to ${options.to}`, { exitCode: 2 });
        }
        const view = await clientFor(io, options).call('getAccounting', {
          query: {
            by: options.by,
            ...(options.from === undefined ? {} : { from: options.from }),
            ...(options.to === undefined ? {} : { to: options.to }),
          },
        });
        if (options.json) printJson(io, view);
        else if (options.csv) io.stdout.write(accountingCsv(view, options));
        else writeLine(io.stdout, renderAccountingTable(view, options));
      },
    );

  addCommonOptions(
    accounting
      .command('export')
      .description("write one day's usage records to the bucket as CSV and Parquet (operators)")
      .option('--day <day>', 'the day, YYYY-MM-DD (UTC; default: yesterday)', dayArg),
  )
    .addHelpText(
      'after',
      '\nThe files go to accounting/usage/format=csv|parquet/day=YYYY-MM-DD/ in the results bucket, where\n' +
        'the Glue tables usage_csv and usage_parquet make them Athena partitions. The daily schedule\n' +
        'exports yesterday; exporting a day again rewrites it with any records since.',
    )
    .action(async (options: CommonOptions & { day?: string }) => {
      const answer = await clientFor(io, options).call('exportAccounting', {
        body: options.day === undefined ? {} : { day: options.day },
      });
      if (options.json) printJson(io, answer);
      else
        writeLine(
          io.stdout,
          `exported ${answer.records} usage record(s) of ${answer.day} to s3://${answer.bucket}/${answer.csvKey}${answer.parquetKey === undefined ? '' : ` and s3://${answer.bucket}/${answer.parquetKey}`}`,
        );
    });
}
