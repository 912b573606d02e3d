import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayOf } from '#core/accounting/usage.ts';
import type { AttemptView } from '#core/api/tasks.ts';
import { invokeHandler, type LambdaHandler } from '#local/lambda-handler.ts';
import { LOCAL_PREFIX, type LocalStack } from '#local/stack.ts';
import { Api, s3For, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';
import { parquetRows } from '#test/support/parquet.ts';

/**
 * Accounting on the local stack: a task whose first attempt fails runs to the end; the roll-ups
 * equal the sum of its attempts' usage to the millisecond, re-delivering the whole change feed
 * changes nothing, `gluon accounting --csv` shows the same, and the day's export reads back.
 */
let stack: LocalStack;
let user: Api;
let admin: Api;
let adminToken: string;
/** The local user without the operator scope the local stack's own token carries. */
let readerToken: string;

beforeAll(async () => {
  stack = await startTestStack('accounting', { pilots: 2, inMemory: true, pilotIdleExitSec: 20 });
  user = new Api(stack.apiUrl, stack.userToken);
  adminToken = await stack.mintToken({ sub: 'operator', scopes: ['gluon.admin'] });
  admin = new Api(stack.apiUrl, adminToken);
  readerToken = await stack.mintToken({ sub: 'local-user', scopes: ['compute.read'] });
});

afterAll(async () => {
  await stack?.stop();
});

/** The CLI as a user runs it (a child process: this process serves the API it calls). */
async function gluon(
  args: string[],
  token = stack.userToken,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
      env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: token },
      encoding: 'utf8',
    });
    return { code: 0, stdout: run.stdout, stderr: run.stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Every record of the jobs table's change feed so far, shard by shard, as the feed delivered them. */
async function wholeJobFeed(): Promise<Array<{ shardId: string; streamArn: string; records: _Record[] }>> {
  const config = {
    endpoint: stack.endpoints.dynamodb,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const db = new DynamoDBClient(config);
  const streams = new DynamoDBStreamsClient(config);
  try {
    const table = await db.send(new DescribeTableCommand({ TableName: `${LOCAL_PREFIX}jobs` }));
    const streamArn = table.Table?.LatestStreamArn as string;
    const stream = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const feed = [];
    for (const shard of stream.StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId as string;
      let iterator = (
        await streams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      const records: _Record[] = [];
      while (iterator !== undefined) {
        const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        records.push(...(out.Records ?? []));
        // An open shard hands out an iterator for ever: stop at the first empty read.
        iterator = (out.Records ?? []).length === 0 ? undefined : out.NextShardIterator;
      }
      feed.push({ shardId, streamArn, records });
    }
    return feed;
  } finally {
    db.destroy();
    streams.destroy();
  }
}

/** Sums of seconds as accounting keeps them: each figure to the millisecond, summed exactly. */
function sumSec(values: number[]): number {
  return values.reduce((ms, v) => ms + Math.round(v * 1000), 0) / 1000;
}

describe('accounting', () => {
  const attempts: AttemptView[] = [];
  let from: string;
  let to: string;

  it('refuses a site accounting factor that is not a positive number, naming the field', async () => {
    const site = await admin.client.call('getSite', { params: { siteId: 'local' } });
    const definition = {
      kind: site.kind,
      // Slots of 2 GB: the local site advertises the machine's whole memory, which a shared test
      // machine may not have free, and pilots that find less than advertised take no work.
      slot: { ...site.slot, memoryMB: 2000 },
      maxPilots: site.maxPilots,
      tags: site.tags,
      ...(site.health === undefined ? {} : { health: site.health }),
    };
    const bad = await admin.request('PUT', '/sites/local', {
      ...definition,
      accounting: { hs23PerCore: -2 },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('"field":"accounting.hs23PerCore"');
    const good = await admin.request('PUT', '/sites/local', {
      ...definition,
      accounting: { hs23PerCore: 10 },
    });
    expect(good.status).toBe(200);
  });

  it('accounts every attempt of a task with a retry, and the roll-ups are their exact sums', async () => {
    const marker = `${stack.stateDir}/failed-once`;
    const taskId = await user.submit(
      shellTask('accounted', `if mkdir ${marker} 2>/dev/null; then exit 3; fi; echo ok`, {
        events: 2,
        split: { eventsPerJob: 1 },
      }),
    );
    expect((await user.finalTask(taskId, 180_000)).state).toBe('done');
    for (const jobIndex of [0, 1]) attempts.push(...((await user.job(taskId, jobIndex)).attempts ?? []));
    expect(attempts.map((a) => a.state).sort()).toEqual(['failed', 'finished', 'finished']);
    const days = attempts.map((a) => dayOf(a.endedAt)).sort();
    from = days[0] as string;
    to = days.at(-1) as string;

    const rows = await waitFor(
      async () => {
        const view = await admin.client.call('getAccounting', { query: { by: 'site', from, to } });
        const sum = view.rows.reduce((n, r) => n + r.attempts, 0);
        return sum === 3 ? view.rows : undefined;
      },
      { what: 'three attempts accounted at the local site', timeoutMs: 60_000 },
    );
    const wall = attempts.map((a) => a.usage?.wallTimeSec ?? 0);
    const cpu = attempts.map((a) => a.usage?.cpuTimeSec ?? 0);
    const total = (field: 'wallSec' | 'cpuSec' | 'coreSec' | 'hs23Sec') =>
      sumSec(rows.map((r) => r[field] ?? 0));
    expect(total('wallSec')).toBe(sumSec(wall));
    expect(total('coreSec')).toBe(sumSec(wall));
    expect(total('cpuSec')).toBe(sumSec(cpu));
    expect(total('hs23Sec')).toBe(sumSec(cpu.map((c) => Math.round(c * 1000) / 100)));
    expect(rows.reduce((n, r) => n + r.failed, 0)).toBe(1);
    expect(rows.reduce((n, r) => n + r.finished, 0)).toBe(2);
    expect(Math.max(...rows.map((r) => r.maxRssMB))).toBe(
      Math.max(...attempts.map((a) => Math.ceil((a.usage?.maxRssKB ?? 0) / 1024))),
    );
  });

  it('changes nothing when the whole change feed is delivered again', async () => {
    const before = await admin.client.call('getAccounting', { query: { by: 'user', from, to } });
    // The function as the stack loaded it (after the stack set the functions' environment).
    const specifier = '#lambdas/jobs/record-job-changes/index.ts';
    const recordJobChanges = ((await import(/* @vite-ignore */ specifier)) as { handler: LambdaHandler })
      .handler;
    const feed = await wholeJobFeed();
    expect(feed.reduce((n, s) => n + s.records.length, 0)).toBeGreaterThan(0);
    for (const { shardId, streamArn, records } of feed) {
      await invokeHandler(recordJobChanges, 'record-job-changes', {
        shardId,
        eventSourceARN: streamArn,
        Records: records.map((r) => ({ ...r, eventSource: 'aws:dynamodb', eventSourceARN: streamArn })),
      });
    }
    expect(await admin.client.call('getAccounting', { query: { by: 'user', from, to } })).toEqual(before);
    for (const by of ['group', 'site'] as const) {
      const rows = (await admin.client.call('getAccounting', { query: { by, from, to } })).rows;
      expect(rows.reduce((n, r) => n + r.attempts, 0)).toBe(3);
    }
  });

  it('shows the user their usage with gluon accounting --csv, and refuses --from after --to', async () => {
    const shown = await gluon(['accounting', '--csv', '--from', from, '--to', to], readerToken);
    expect(shown.code).toBe(0);
    const [header, ...lines] = shown.stdout.trim().split('\r\n');
    expect(header).toBe('day,key,attempts,finished,failed,coreSec,wallSec,cpuSec,hs23Sec,maxRssMB');
    const rows = lines.map((line) => line.split(','));
    expect(rows.every((r) => r[1] === 'local-user')).toBe(true);
    expect(rows.reduce((n, r) => n + Number(r[2]), 0)).toBe(3);
    expect(sumSec(rows.map((r) => Number(r[6])))).toBe(
      sumSec(attempts.map((a) => a.usage?.wallTimeSec ?? 0)),
    );

    const refused = await gluon(['accounting', '--from', '2026-12-03', '--to', '2026-12-02']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--from 2026-12-03 is after --to 2026-12-02');
    const api = await user.get('/accounting?from=2026-12-03&to=2026-12-02');
    expect(api.status).toBe(400);
    expect(JSON.stringify(api.body)).toContain('"field":"from"');
    const bySite = await new Api(stack.apiUrl, readerToken).get('/accounting?by=site');
    expect(bySite.status).toBe(403);
    expect(JSON.stringify(bySite.body)).toContain('by: accounting by site needs the gluon.admin scope');
  });

  it("exports the day's usage records as Parquet that reads back equal to the attempts", async () => {
    const exported = await gluon(['accounting', 'export', '--day', to, '--json'], adminToken);
    expect(exported.code).toBe(0);
    const answer = JSON.parse(exported.stdout) as { records: number; bucket: string; parquetKey: string };
    const onDay = attempts.filter((a) => dayOf(a.endedAt) === to);
    expect(answer.records).toBe(onDay.length);
    const s3 = s3For(stack);
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: answer.bucket, Key: answer.parquetKey }));
      const bytes = await object.Body?.transformToByteArray();
      const rows = parquetRows(bytes as Uint8Array);
      expect(rows.map((r) => [r.state, r.user, r.siteId, r.wallSec]).sort()).toEqual(
        onDay
          .map((a) => [a.state, 'local-user', 'local', Math.round((a.usage?.wallTimeSec ?? 0) * 1000) / 1000])
          .sort(),
      );
    } finally {
      s3.destroy();
    }
  });
});
