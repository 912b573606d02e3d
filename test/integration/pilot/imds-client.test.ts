/**
 * The IMDSv2 client and the interruption watch against a real HTTP server that speaks IMDSv2
 * (test-imds.ts: a token first, every GET without it refused with 401).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ImdsClient, ImdsError } from '#pilot/cloud/imds-client.ts';
import {
  InterruptionWatch,
  type RebalanceRecommendation,
  type SpotInterruptionNotice,
} from '#pilot/cloud/interruption-watch.ts';
import { silentLogger } from '#platform/logger.ts';
import { waitFor } from './pilot-harness.ts';
import { startTestImds, type TestImds } from './test-imds.ts';

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const server of opened.splice(0)) await server.close();
});

async function imdsServer(options: Parameters<typeof startTestImds>[0] = {}): Promise<TestImds> {
  const imds = await startTestImds(options);
  opened.push(imds);
  return imds;
}

describe('ImdsClient', () => {
  it('asks for a token first, sends it with every GET, and keeps it', async () => {
    const imds = await imdsServer({
      instanceId: 'i-0abc',
      instanceType: 'm5.large',
      lifeCycle: 'spot',
      availabilityZone: 'eu-west-1b',
    });
    const client = new ImdsClient({ endpoint: imds.url });
    expect(await client.identity()).toEqual({
      instanceId: 'i-0abc',
      instanceType: 'm5.large',
      market: 'spot',
      availabilityZone: 'eu-west-1b',
    });
    expect(await client.get('/latest/meta-data/instance-id')).toBe('i-0abc');
    expect(imds.tokensIssued).toBe(1);
    expect(imds.refused).toBe(0);
    expect(imds.requests[0]).toBe('PUT /latest/api/token');
  });

  it('reads on-demand instances and the instance tags', async () => {
    const imds = await imdsServer({
      lifeCycle: 'on-demand',
      tags: { 'gluon:site': 'aws-a', 'gluon:pilots': 'instance' },
    });
    const client = new ImdsClient({ endpoint: imds.url });
    expect((await client.identity()).market).toBe('on-demand');
    expect(Object.fromEntries(await client.tags())).toEqual({
      'gluon:site': 'aws-a',
      'gluon:pilots': 'instance',
    });
  });

  it('reads a missing path (404) as undefined', async () => {
    const imds = await imdsServer();
    const client = new ImdsClient({ endpoint: imds.url });
    expect(await client.get('/latest/meta-data/spot/instance-action')).toBeUndefined();
    await expect(client.require('/latest/meta-data/nothing')).rejects.toThrow(/nothing is missing/);
  });

  it('renews the token before it expires, and once more when IMDS refuses it', async () => {
    const imds = await imdsServer();
    let now = 1_000_000;
    const client = new ImdsClient({ endpoint: imds.url, tokenTtlSec: 100, now: () => now });
    await client.get('/latest/meta-data/instance-id');
    now += 89_000;
    await client.get('/latest/meta-data/instance-id');
    expect(imds.tokensIssued).toBe(1);
    now += 2000; // past 90% of the token's life
    await client.get('/latest/meta-data/instance-id');
    expect(imds.tokensIssued).toBe(2);

    imds.expireTokens();
    expect(await client.get('/latest/meta-data/instance-type')).toBe('m5.xlarge');
    expect(imds.refused).toBe(1);
    expect(imds.tokensIssued).toBe(3);
  });

  it('names the endpoint when IMDS does not answer within the timeout', async () => {
    // Accepts connections and never answers (as a filtered link-local address would not).
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    opened.push({
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          silent.close(() => resolve());
        }),
    });
    const address = silent.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    const client = new ImdsClient({ endpoint: url, timeoutMs: 300 });
    const started = Date.now();
    const error = await client.get('/latest/meta-data/instance-id').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImdsError);
    expect((error as Error).message).toContain(`instance metadata service at ${url} does not answer`);
    expect((error as Error).message).toContain('no answer within 300 ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('InterruptionWatch', () => {
  it('passes on a Spot interruption notice once, and a rebalance recommendation once', async () => {
    const imds = await imdsServer();
    const notices: SpotInterruptionNotice[] = [];
    const rebalances: RebalanceRecommendation[] = [];
    const watch = new InterruptionWatch({
      imds: new ImdsClient({ endpoint: imds.url }),
      pollSec: 1,
      logger: silentLogger,
      onInterruption: (notice) => notices.push(notice),
      onRebalance: (recommendation) => rebalances.push(recommendation),
    });
    watch.start();
    try {
      await waitFor('a first poll', () => imds.requests.some((r) => r.endsWith('/spot/instance-action')));
      expect(notices).toEqual([]);
      imds.rebalance(new Date('2026-12-02T14:58:00Z'));
      await waitFor('the rebalance recommendation', () => rebalances.length > 0);
      expect(rebalances).toEqual([{ noticeTime: '2026-12-02T14:58:00Z' }]);

      imds.interrupt(new Date('2026-12-02T15:00:00Z'));
      await waitFor('the interruption notice', () => notices.length > 0);
      expect(notices).toEqual([
        { action: 'terminate', time: '2026-12-02T15:00:00Z', timeMs: Date.parse('2026-12-02T15:00:00Z') },
      ]);
      expect(rebalances).toHaveLength(1);
    } finally {
      await watch.stop();
    }
    expect(imds.refused).toBe(0);
  });
});
