import { type Command, InvalidArgumentError } from 'commander';
import type { MetricSeries, MetricsResponse } from '#core/api/metrics.ts';
import { METRIC_NAMES } from '#core/metrics/metric-names.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `30m`, `1h`, `2d`: how far back from now. */
export function parseSince(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim());
  const amount = Number(match?.[1]);
  if (match === null || !(amount > 0))
    throw new InvalidArgumentError('expected a duration such as 30m, 1h or 2d.');
  return amount * (UNIT_SEC[match[2] as string] as number);
}

/** A series' column title: its name, and the dimension value it is counted by. */
function seriesTitle(series: MetricSeries): string {
  const dims = Object.entries(series.dimensions ?? {}).map(([k, v]) => `${k}=${v}`);
  return dims.length === 0 ? series.name : `${series.name}{${dims.join(',')}}`;
}

/** One row per minute with data, one column per series (blank where a series has no value). */
export function renderMetricsTable(answer: MetricsResponse): string {
  const minutes = [...new Set(answer.metrics.flatMap((s) => s.points.map((p) => p.t)))].sort();
  const columns = answer.metrics.map((s) => new Map(s.points.map((p) => [p.t, p.value])));
  const rows = minutes.map((t) => [
    t.slice(0, 16).replace('T', ' '),
    ...columns.map((c) => {
      const value = c.get(t);
      return value === undefined ? '' : String(Math.round(value * 100) / 100);
    }),
  ]);
  return renderTable(['MINUTE (UTC)', ...answer.metrics.map(seriesTitle)], rows);
}

/** `gluon metrics`: the operators' metrics, per-minute sums. */
export function registerMetrics(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('metrics')
      .description(
        "show the operators' metrics as per-minute sums (needs gluon.admin): one row per minute, one column per " +
          'metric (and per outcome, error code or site for the metrics counted by one). Locally they come from ' +
          `the stack's .gluon/metrics.ndjson. Metrics: ${METRIC_NAMES.join(', ')}.`,
      )
      .option('--names <list>', 'comma-separated metric names (default all)')
      .option('--since <duration>', 'how far back: 30m, 1h, 2d (at most 7d)', parseSince, 3600),
  ).action(async (options: CommonOptions & { names?: string; since: number }) => {
    const to = new Date();
    const from = new Date(to.getTime() - options.since * 1000);
    const answer = await clientFor(io, options).call('getMetrics', {
      query: {
        from: from.toISOString(),
        to: to.toISOString(),
        ...(options.names === undefined ? {} : { names: options.names }),
      },
    });
    if (options.json) printJson(io, answer);
    else if (answer.metrics.length === 0)
      writeLine(io.stdout, `no metrics between ${answer.from} and ${answer.to}`);
    else writeLine(io.stdout, renderMetricsTable(answer));
  });
}
