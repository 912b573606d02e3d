/**
 * One fake instance's metadata service (IMDSv2 only) on its own 127.0.0.1 port: a token from
 * `PUT /latest/api/token` (header `X-aws-ec2-metadata-token-ttl-seconds`), then GETs with header
 * `X-aws-ec2-metadata-token` (401 without or with an unknown one). It serves exactly the paths the
 * cloud pilot reads (common names of issue 12), from the instance as the fake holds it now.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeOnce, LOOPBACK, listenOnLoopback } from '../listen.ts';

/** What the metadata service reads, each time it answers (the fake changes it on a Spot notice). */
export interface ImdsView {
  instanceId: string;
  instanceType: string;
  market: 'spot' | 'on-demand';
  availabilityZone: string;
  tags: Record<string, string>;
  spotAction?: { action: 'terminate' | 'stop' | 'hibernate'; time: string };
  rebalanceNoticeTime?: string;
}

export interface FakeImds {
  endpoint: string;
  stop(): Promise<void>;
}

const MAX_TOKEN_TTL_SEC = 21_600;

export async function startFakeImds(view: () => ImdsView): Promise<FakeImds> {
  const tokens = new Map<string, number>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const [status, body, headers] = respond(req);
    res.writeHead(status, { 'content-type': 'text/plain', ...headers });
    res.end(body);
  };
  const respond = (req: IncomingMessage): [number, string, Record<string, string>?] => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return [405, ''];
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SEC) return [400, ''];
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, Date.now() + ttl * 1000);
      return [200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) }];
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return [405, ''];
    const token = req.headers['x-aws-ec2-metadata-token'];
    const expires = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expires === undefined || expires < Date.now()) return [401, ''];
    const body = metadata(path, view());
    return body === undefined ? [404, ''] : [200, body];
  };
  const port = await listenOnLoopback(server, 0);
  return { endpoint: `http://${LOOPBACK}:${port}`, stop: closeOnce(server) };
}

/** The answer to one metadata path, or undefined (404). */
function metadata(path: string, instance: ImdsView): string | undefined {
  const prefix = '/latest/meta-data/';
  if (!path.startsWith(prefix)) return undefined;
  const key = path.slice(prefix.length).replace(/\/$/, '');
  switch (key) {
    case 'instance-id':
      return instance.instanceId;
    case 'instance-type':
      return instance.instanceType;
    case 'instance-life-cycle':
      return instance.market;
    case 'placement/availability-zone':
      return instance.availabilityZone;
    case 'tags/instance':
      return Object.keys(instance.tags).join('\n');
    case 'spot/instance-action':
      return instance.spotAction === undefined ? undefined : JSON.stringify(instance.spotAction);
    case 'events/recommendations/rebalance':
      return instance.rebalanceNoticeTime === undefined
        ? undefined
        : JSON.stringify({ noticeTime: instance.rebalanceNoticeTime });
    default:
      break;
  }
  if (key.startsWith('tags/instance/')) {
    const tag = decodeURIComponent(key.slice('tags/instance/'.length));
    return Object.hasOwn(instance.tags, tag) ? instance.tags[tag] : undefined;
  }
  return undefined;
}
