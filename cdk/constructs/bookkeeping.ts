import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type CfnTable,
  ProjectionType,
  StreamViewType,
  Table,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { type KeyAttribute, TABLES, type TableKey } from '#adapters/dynamodb/tables.ts';
import { pascalCase } from '../function-catalog.ts';

export interface BookkeepingProps {
  removalPolicy: RemovalPolicy;
}

function attribute(key: KeyAttribute): { name: string; type: AttributeType } {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

/**
 * The DynamoDB tables, built from the same definitions the stores and the local stack use
 * (adapters/dynamodb/tables.ts): on-demand, point-in-time recovery, TTL where the definition
 * names an expiry attribute, a stream (new and old images) where it has a change feed. Logical ids are fixed (`TasksTable`, …) so that a
 * refactoring of this code never replaces a table.
 */
export class Bookkeeping extends Construct {
  readonly tables: Readonly<Record<TableKey, Table>>;

  constructor(scope: Construct, id: string, props: BookkeepingProps) {
    super(scope, id);
    const retain = props.removalPolicy !== RemovalPolicy.DESTROY;
    const build = (key: TableKey): Table => {
      const definition = TABLES[key];
      const table = new Table(this, pascalCase(key), {
        partitionKey: attribute(definition.partitionKey),
        sortKey: definition.sortKey === undefined ? undefined : attribute(definition.sortKey),
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: definition.ttlAttribute,
        removalPolicy: props.removalPolicy,
        deletionProtection: retain,
        ...(definition.stream === undefined ? {} : { stream: StreamViewType.NEW_AND_OLD_IMAGES }),
      });
      for (const index of definition.indexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: attribute(index.partitionKey),
          sortKey: index.sortKey === undefined ? undefined : attribute(index.sortKey),
          projectionType: index.projection === 'ALL' ? ProjectionType.ALL : ProjectionType.KEYS_ONLY,
        });
      }
      (table.node.defaultChild as CfnTable).overrideLogicalId(`${pascalCase(key)}Table`);
      return table;
    };
    this.tables = Object.fromEntries(
      (Object.keys(TABLES) as TableKey[]).map((key) => [key, build(key)]),
    ) as Record<TableKey, Table>;
  }
}
