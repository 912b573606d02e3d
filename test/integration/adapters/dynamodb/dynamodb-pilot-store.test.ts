import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbPilotStore, PILOT_RETENTION_SEC } from '#adapters/dynamodb/dynamodb-pilot-store.ts';
import { ValidationError } from '#core/errors.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables, makePilot, newPilotId } from '../fixtures.ts';

let restoreEnv: () => void;
let db: DynamoDBDocumentClient;
let pilots: DynamoDbPilotStore;
let table: string;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  table = (await freshTables(uniquePrefix('it-pilot-'))).pilots;
  db = dynamoDbDocumentClient();
  pilots = new DynamoDbPilotStore(db, table);
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

async function raw(pilotId: string): Promise<Record<string, unknown> | undefined> {
  return (await db.send(new GetCommand({ TableName: table, Key: { pilotId }, ConsistentRead: true }))).Item;
}

const AT = '2026-11-25T10:00:00.000Z';
const TTL = Date.parse(AT) / 1000 + PILOT_RETENTION_SEC;

describe('DynamoDbPilotStore', () => {
  it('registers a pilot once and reads it back, with no expiry while it lives', async () => {
    const pilot = makePilot({
      batchId: 'slurm-1',
      health: [{ name: 'disk', ok: true, value: '80 GB free' }],
    });
    expect(await pilots.register(pilot)).toBe('registered');
    expect(await pilots.register({ ...pilot, host: 'other' })).toBe('exists');
    expect(await pilots.get(pilot.pilotId)).toEqual(pilot);
    expect(await raw(pilot.pilotId)).not.toHaveProperty('expiresAt');
  });

  it("keeps a cloud pilot's node and cost", async () => {
    const pilot = makePilot({
      cloud: {
        provider: 'ec2',
        instanceId: 'i-0123456789abcdef0',
        instanceType: 'c7g.xlarge',
        market: 'on-demand',
        availabilityZone: 'us-east-1c',
        pilotsOnInstance: 2,
      },
      cost: { hourlyUsd: 0.0725, instanceHourlyUsd: 0.145, source: 'table', asOf: '2026-11-01' },
    });
    expect(await pilots.register(pilot)).toBe('registered');
    expect(await pilots.get(pilot.pilotId)).toEqual(pilot);
    await pilots.end(pilot.pilotId, { state: 'exited', at: AT, jobsRun: 3 });
    expect(await pilots.get(pilot.pilotId)).toMatchObject({
      cloud: pilot.cloud,
      cost: pilot.cost,
      state: 'exited',
    });
  });

  it('has no pilot that never registered', async () => {
    expect(await pilots.get(newPilotId())).toBeUndefined();
  });

  it('gives a pilot registered unhealthy its expiry 30 days after its end, kept out of the pilot', async () => {
    const pilot = makePilot({ state: 'unhealthy', endedAt: AT });
    await pilots.register(pilot);
    expect((await raw(pilot.pilotId))?.expiresAt).toBe(TTL);
    expect(await pilots.get(pilot.pilotId)).toEqual(pilot);
  });

  it('records the end of a pilot once: state, time, jobs run and expiry', async () => {
    const pilot = makePilot();
    await pilots.register(pilot);
    await pilots.end(pilot.pilotId, { state: 'exited', at: AT, jobsRun: 7 });
    expect(await pilots.get(pilot.pilotId)).toEqual({ ...pilot, state: 'exited', endedAt: AT, jobsRun: 7 });
    expect((await raw(pilot.pilotId))?.expiresAt).toBe(TTL);

    // A second sweep that ends it again changes nothing.
    await pilots.end(pilot.pilotId, { state: 'lost', at: '2026-11-26T00:00:00.000Z', jobsRun: 9 });
    expect(await pilots.get(pilot.pilotId)).toEqual({ ...pilot, state: 'exited', endedAt: AT, jobsRun: 7 });
  });

  it('records an end without a job count as it is', async () => {
    const pilot = makePilot();
    await pilots.register(pilot);
    await pilots.end(pilot.pilotId, { state: 'lost', at: AT });
    expect(await pilots.get(pilot.pilotId)).toEqual({ ...pilot, state: 'lost', endedAt: AT });
  });

  it('writes nothing when ending a pilot that never registered', async () => {
    const pilotId = newPilotId();
    await pilots.end(pilotId, { state: 'lost', at: AT, jobsRun: 1 });
    expect(await raw(pilotId)).toBeUndefined();
  });

  it('lists every pilot in pages, and refuses a bad page token', async () => {
    const table2 = (await freshTables(uniquePrefix('it-pilot-list-'))).pilots;
    const store = new DynamoDbPilotStore(db, table2);
    const registered = Array.from({ length: 5 }, () => makePilot());
    for (const pilot of registered) await store.register(pilot);

    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ limit: 2, ...(nextToken === undefined ? {} : { nextToken }) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((p) => p.pilotId));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined && pages < 10);
    expect(seen.sort()).toEqual(registered.map((p) => p.pilotId).sort());
    expect(pages).toBeGreaterThanOrEqual(3);

    const error = await store.list({ limit: 2, nextToken: 'bad!' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['nextToken']);
  });
});
