import { type ColumnSource, parquetWriteBuffer } from 'hyparquet-writer';
import type { ExportAccountingResponse } from '../api/accounting.ts';
import type { Deps } from '../deps.ts';
import { usageExportKey } from '../storage/object-keys.ts';
import { addDays, dayOf, type UsageRecord } from './usage.ts';

/**
 * The columns of an exported usage record, in order. `day` is not among them: it is the partition
 * (`day=YYYY-MM-DD/` in the key), and Athena refuses a column named as a partition key.
 */
const COLUMNS = [
  { name: 'taskId', type: 'STRING' },
  { name: 'jobIndex', type: 'INT32' },
  { name: 'attempt', type: 'INT32' },
  { name: 'user', type: 'STRING' },
  { name: 'group', type: 'STRING' },
  { name: 'siteId', type: 'STRING' },
  { name: 'resourceClass', type: 'STRING' },
  { name: 'cores', type: 'INT32' },
  { name: 'state', type: 'STRING' },
  { name: 'pilotErrorCode', type: 'INT32' },
  { name: 'exitCode', type: 'INT32' },
  { name: 'startedAt', type: 'TIMESTAMP' },
  { name: 'endedAt', type: 'TIMESTAMP' },
  { name: 'wallSec', type: 'DOUBLE' },
  { name: 'cpuSec', type: 'DOUBLE' },
  { name: 'coreSec', type: 'DOUBLE' },
  { name: 'maxRssMB', type: 'INT32' },
  { name: 'hs23Sec', type: 'DOUBLE' },
  // Last, so CSV partitions written before it read it as empty.
  { name: 'costUsd', type: 'DOUBLE' },
] as const satisfies ReadonlyArray<{ name: Exclude<keyof UsageRecord, 'day'>; type: string }>;

/** The export's column names and their Athena (Hive) types, for the Glue table CDK defines. */
export const USAGE_EXPORT_COLUMNS: ReadonlyArray<{ name: string; type: string }> = COLUMNS.map((c) => ({
  name: c.name,
  type: { STRING: 'string', INT32: 'int', TIMESTAMP: 'timestamp', DOUBLE: 'double' }[c.type],
}));

/** Records in a stable order: by task, job and attempt. */
function ordered(records: UsageRecord[]): UsageRecord[] {
  return [...records].sort(
    (a, b) => a.taskId.localeCompare(b.taskId) || a.jobIndex - b.jobIndex || a.attempt - b.attempt,
  );
}

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled; absent is empty. */
function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Rows as CSV (RFC 4180, CRLF line ends), the header first. */
export function csvText(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

/** The records as CSV with a header line (times as ISO strings; an absent value is an empty field). */
export function usageCsv(records: UsageRecord[]): string {
  return csvText(
    COLUMNS.map((c) => c.name),
    ordered(records).map((r) => COLUMNS.map((c) => r[c.name])),
  );
}

/** The records as one Parquet file (Snappy), columns as USAGE_EXPORT_COLUMNS. */
export function usageParquet(records: UsageRecord[]): Uint8Array {
  const rows = ordered(records);
  const columnData: ColumnSource[] = COLUMNS.map((c) => ({
    name: c.name,
    type: c.type,
    data:
      c.type === 'TIMESTAMP'
        ? rows.map((r) => new Date(r[c.name]))
        : rows.map((r) => (r[c.name] === undefined ? null : r[c.name])),
  }));
  return new Uint8Array(parquetWriteBuffer({ columnData }));
}

/**
 * Writes one day's usage records to the bucket as CSV and as Parquet, in Hive-style daily
 * partitions Athena reads (`accounting/usage/format=…/day=YYYY-MM-DD/`). The day's records are one
 * query (the store keeps them under their day); a day exported again is overwritten with the same
 * and any later records. Left out, the day is yesterday (UTC): the daily schedule's.
 */
export async function exportUsage(
  deps: Pick<Deps, 'accounting' | 'accountingExports' | 'objects' | 'clock'>,
  day: string | undefined,
): Promise<ExportAccountingResponse> {
  const exported = day ?? addDays(dayOf(deps.clock.now()), -1);
  const records = await deps.accounting.usageOfDay(exported);
  const csvKey = usageExportKey('csv', exported);
  const parquetKey = usageExportKey('parquet', exported);
  await deps.accountingExports.put(csvKey, new TextEncoder().encode(usageCsv(records)), 'text/csv');
  // A Parquet file of no rows, as hyparquet-writer makes it, is refused by other readers (the Rust
  // parquet crate's, at least): an empty day is a partition with no Parquet object, which Athena
  // reads as no rows.
  if (records.length === 0) return { day: exported, records: 0, bucket: deps.objects.bucket, csvKey };
  await deps.accountingExports.put(parquetKey, usageParquet(records), 'application/vnd.apache.parquet');
  return { day: exported, records: records.length, bucket: deps.objects.bucket, csvKey, parquetKey };
}
