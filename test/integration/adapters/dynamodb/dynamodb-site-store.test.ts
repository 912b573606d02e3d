import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbSiteStore } from '#adapters/dynamodb/dynamodb-site-store.ts';
import { SiteSchema } from '#core/sites/site.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';
import { freshTables } from '../fixtures.ts';

let restoreEnv: () => void;
let db: DynamoDBDocumentClient;
let table: string;
let sites: DynamoDbSiteStore;

beforeAll(async () => {
  restoreEnv = useStandInsEnv();
  table = (await freshTables(uniquePrefix('it-site-'))).sites;
  db = dynamoDbDocumentClient();
  sites = new DynamoDbSiteStore(db, table);
});

afterAll(() => {
  db?.destroy();
  restoreEnv?.();
});

const CENSUS = { starting: 1, idle: 2, busy: 3, draining: 0 };

describe('DynamoDbSiteStore', () => {
  it('puts, redefines, gets and lists sites in id order', async () => {
    const b = SiteSchema.parse({ siteId: 'site-b', maxPilots: 3 });
    const a = SiteSchema.parse({ siteId: 'site-a', kind: 'hpc', tags: ['slurm'] });
    await sites.put(b);
    await sites.put(a);
    await sites.put({ ...b, status: 'offline', tags: ['spot'] });
    expect(await sites.get('site-b')).toEqual({ ...b, status: 'offline', tags: ['spot'] });
    expect(await sites.get('site-zzz')).toBeUndefined();
    expect(await sites.list()).toEqual([a, { ...b, status: 'offline', tags: ['spot'] }]);
  });

  it('records the census of a site and keeps it when the site is defined again', async () => {
    const site = SiteSchema.parse({ siteId: 'site-census', maxPilots: 10 });
    await sites.put(site);
    await sites.recordCensus('site-census', CENSUS, '2026-11-25T10:00:00.000Z');
    expect(await sites.get('site-census')).toEqual({
      ...site,
      census: { pilots: CENSUS, at: '2026-11-25T10:00:00.000Z' },
    });

    await sites.put({ ...site, maxPilots: 20, status: 'test' });
    expect(await sites.get('site-census')).toEqual({
      ...site,
      maxPilots: 20,
      status: 'test',
      census: { pilots: CENSUS, at: '2026-11-25T10:00:00.000Z' },
    });

    const later = { starting: 0, idle: 0, busy: 1, draining: 1 };
    await sites.recordCensus('site-census', later, '2026-11-25T10:01:00.000Z');
    expect((await sites.get('site-census'))?.census).toEqual({
      pilots: later,
      at: '2026-11-25T10:01:00.000Z',
    });
  });

  it('writes no census for a site that does not exist', async () => {
    await sites.recordCensus('site-never', CENSUS, '2026-11-25T10:00:00.000Z');
    expect(
      (
        await db.send(
          new GetCommand({ TableName: table, Key: { siteId: 'site-never' }, ConsistentRead: true }),
        )
      ).Item,
    ).toBeUndefined();
    expect((await sites.list()).map((s) => s.siteId)).not.toContain('site-never');
  });
});
