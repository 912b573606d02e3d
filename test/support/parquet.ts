import { DataType, tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm/node';

/**
 * Reads a Parquet file with a reader independent of the writer (hyparquet-writer): the Rust
 * `parquet` crate (parquet-wasm) into Arrow, then plain rows. Timestamps come back as Dates and
 * 64-bit integers as numbers, so rows compare with what was written.
 */
export function parquetRows(bytes: Uint8Array): Array<Record<string, unknown>> {
  const table = tableFromIPC(readParquet(bytes).intoIPCStream());
  const timestamps = new Set(
    table.schema.fields.filter((f) => DataType.isTimestamp(f.type)).map((f) => f.name),
  );
  return table
    .toArray()
    .map((row) =>
      Object.fromEntries(
        Object.entries(row.toJSON() as Record<string, unknown>).map(([name, value]) => [
          name,
          value === null || value === undefined
            ? null
            : timestamps.has(name)
              ? new Date(Number(value))
              : typeof value === 'bigint'
                ? Number(value)
                : value,
        ]),
      ),
    );
}
