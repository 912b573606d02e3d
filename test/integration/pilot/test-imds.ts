/**
 * A small instance metadata service for tests, IMDSv2 only: PUT /latest/api/token (with the TTL
 * header) gives a token; every GET without a valid token gets 401. Serves the paths the pilot reads
 * (pilot/cloud/imds-client.ts IMDS_PATHS); a Spot interruption notice and a rebalance recommendation
 * are set by the test.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestImdsOptions {
  instanceId?: string;
  instanceType?: string;
  lifeCycle?: 'spot' | 'on-demand';
  availabilityZone?: string;
  tags?: Record<string, string>;
}

export interface TestImds {
  url: string;
  /** Requests seen, as `METHOD path` (tokens issued included). */
  requests: string[];
  /** GETs refused for want of a valid token. */
  refused: number;
  tokensIssued: number;
  /** Serves a Spot interruption notice: `action` at `time`. */
  interrupt(time: Date, action?: 'terminate' | 'stop' | 'hibernate'): void;
  rebalance(noticeTime?: Date): void;
  /** Forgets every token issued (as an IMDS restart would). */
  expireTokens(): void;
  close(): Promise<void>;
}

export async function startTestImds(options: TestImdsOptions = {}): Promise<TestImds> {
  const tokens = new Set<string>();
  const tags = options.tags ?? {};
  let spotAction: string | undefined;
  let rebalance: string | undefined;
  const values = (): Record<string, string | undefined> => ({
    '/latest/meta-data/instance-id': options.instanceId ?? 'i-0123456789abcdef0',
    '/latest/meta-data/instance-type': options.instanceType ?? 'm5.xlarge',
    '/latest/meta-data/instance-life-cycle': options.lifeCycle ?? 'spot',
    '/latest/meta-data/placement/availability-zone': options.availabilityZone ?? 'us-east-1a',
    '/latest/meta-data/tags/instance': Object.keys(tags).join('\n'),
    '/latest/meta-data/spot/instance-action': spotAction,
    '/latest/meta-data/events/recommendations/rebalance': rebalance,
    ...Object.fromEntries(
      Object.entries(tags).map(([key, value]) => [`/latest/meta-data/tags/instance/${key}`, value]),
    ),
  });
  const imds: Omit<TestImds, 'url'> & { url?: string } = {
    requests: [],
    refused: 0,
    tokensIssued: 0,
    interrupt(time, action = 'terminate') {
      spotAction = JSON.stringify({ action, time: time.toISOString().replace(/\.\d{3}Z$/, 'Z') });
    },
    rebalance(noticeTime = new Date()) {
      rebalance = JSON.stringify({ noticeTime: noticeTime.toISOString().replace(/\.\d{3}Z$/, 'Z') });
    },
    expireTokens() {
      tokens.clear();
    },
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    imds.requests.push(`${req.method} ${path}`);
    if (req.method === 'PUT' && path === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21_600) {
        res.writeHead(400).end();
        return;
      }
      const token = randomUUID();
      tokens.add(token);
      imds.tokensIssued++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token !== 'string' || !tokens.has(token)) {
      imds.refused++;
      res.writeHead(401).end();
      return;
    }
    const value = values()[path];
    if (value === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  imds.url = `http://127.0.0.1:${port}`;
  imds.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return imds as TestImds;
}
