import { Stack } from 'aws-cdk-lib';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { USAGE_EXPORT_COLUMNS } from '#core/accounting/export-usage.ts';
import { usageExportPrefix } from '#core/storage/object-keys.ts';

export interface AccountingProps {
  /** The results bucket the exports are written to (accounting/usage/…). */
  bucket: IBucket;
  /** The first day partition projection offers (earlier days are not queried). */
  firstDay?: string;
}

const HIVE = 'org.apache.hadoop.hive.ql.io';

/**
 * The Glue Data Catalog over the accounting exports, so Athena queries them with no crawler: one
 * database, a table over the Parquet files and one over the CSV files, each partitioned by `day`
 * with partition projection (Athena computes the partitions from the key template; nothing is
 * added per day). Glue names its databases, so this one is named after the stack.
 */
export class Accounting extends Construct {
  readonly database: CfnDatabase;
  readonly parquetTable: CfnTable;
  readonly csvTable: CfnTable;
  readonly databaseName: string;

  constructor(scope: Construct, id: string, props: AccountingProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.databaseName = `${stack.stackName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_accounting`;
    this.database = new CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: 'Gluon accounting: one usage record per ended attempt, exported daily',
      },
    });
    const columns = USAGE_EXPORT_COLUMNS.map((c) => ({ name: c.name.toLowerCase(), type: c.type }));
    const table = (
      tableId: string,
      format: 'parquet' | 'csv',
      storage: Omit<CfnTable.StorageDescriptorProperty, 'columns' | 'location'>,
      parameters: Record<string, string>,
    ): CfnTable => {
      const location = `s3://${props.bucket.bucketName}/${usageExportPrefix(format)}`;
      const created = new CfnTable(this, tableId, {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: {
          name: `usage_${format}`,
          description: `Usage records by day (${format}), as accounting/usage/format=${format}/day=YYYY-MM-DD/`,
          tableType: 'EXTERNAL_TABLE',
          partitionKeys: [{ name: 'day', type: 'string' }],
          parameters: {
            classification: format,
            'projection.enabled': 'true',
            'projection.day.type': 'date',
            'projection.day.format': 'yyyy-MM-dd',
            'projection.day.range': `${props.firstDay ?? '2025-01-01'},NOW`,
            'projection.day.interval': '1',
            'projection.day.interval.unit': 'DAYS',
            'storage.location.template': `${location}day=\${day}/`,
            ...parameters,
          },
          storageDescriptor: {
            ...storage,
            // OpenCSVSerde reads every column as a string (cast in the query).
            columns: format === 'csv' ? columns.map((c) => ({ ...c, type: 'string' })) : columns,
            location,
          },
        },
      });
      created.addDependency(this.database);
      return created;
    };
    this.parquetTable = table(
      'UsageParquet',
      'parquet',
      {
        inputFormat: `${HIVE}.parquet.MapredParquetInputFormat`,
        outputFormat: `${HIVE}.parquet.MapredParquetOutputFormat`,
        serdeInfo: { serializationLibrary: `${HIVE}.parquet.serde.ParquetHiveSerDe` },
      },
      { 'parquet.compression': 'SNAPPY' },
    );
    this.csvTable = table(
      'UsageCsv',
      'csv',
      {
        inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
        outputFormat: `${HIVE}.HiveIgnoreKeyTextOutputFormat`,
        // OpenCSVSerde reads quoted fields (users' names may hold commas).
        serdeInfo: {
          serializationLibrary: 'org.apache.hadoop.hive.serde2.OpenCSVSerde',
          parameters: { separatorChar: ',', quoteChar: '"' },
        },
      },
      { 'skip.header.line.count': '1' },
    );
  }
}
