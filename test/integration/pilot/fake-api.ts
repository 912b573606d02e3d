/**
 * A small HTTP server speaking the pilot routes of the Gluon API contract (core/api.ts), for
 * running the real pilot process against. It validates every request body with the contract's
 * own zod schemas (a bad body gets the API's 400 error body) and records what the pilot sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import {
  type ClaimedJob,
  ClaimRequestSchema,
  type ClaimResponse,
  CompleteRequestSchema,
  type ErrorBody,
  HeartbeatRequestSchema,
  type HeartbeatResponse,
  type PilotCredentials,
  type RegisterPilotResponse,
} from '#core/api/contract.ts';
import { PilotRegistrationSchema } from '#core/pilots/pilot.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

export type ClaimAnswer = ClaimedJob | { outcome: 'stale' | 'cancelled' | 'unfit'; reason: string };

export interface FakeApi {
  url: string;
  token: string;
  requests: RecordedRequest[];
  /** What a claim of `<taskId>.<jobIndex>` gets; unknown jobs are 'stale'. */
  jobs: Map<string, ClaimAnswer>;
  /** Jobs (`<taskId>.<jobIndex>`) whose next heartbeat is answered with action 'kill' and this reason. */
  kill: Map<string, string>;
  /** Where registration sends the pilot. */
  registration: { queueUrl: string; bucket: string; siteId: string };
  /** Set: registration answers accepted=false with this reason (as for a site in test mode). */
  refuse?: string;
  /** Set: claims and heartbeats answer 409, as the API does for a pilot it marked lost. */
  gone?: boolean;
  /** Set: credentials vended at registration and by each renewal (called once per answer). */
  vend?: () => PilotCredentials;
  bodies<T = Record<string, unknown>>(route: Route): T[];
  stop(): Promise<void>;
}

type Route = 'register' | 'claim' | 'heartbeat' | 'complete' | 'credentials';

export const PILOT_ID = 'p-testpilot01';

function routeOf(path: string): Route | undefined {
  if (path === '/pilots') return 'register';
  const match = /^\/pilots\/[^/]+\/(claim|heartbeat|complete|credentials)$/.exec(path);
  return match ? (match[1] as Route) : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function invalid(res: ServerResponse, error: z.ZodError): void {
  const body: ErrorBody = {
    error: {
      code: 'INVALID_INPUT',
      message: 'invalid request body',
      issues: error.issues.map((i) => ({
        field: ['body', ...i.path.map(String)].join('.'),
        message: i.message,
      })),
    },
  };
  send(res, 400, body);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : JSON.parse(text);
}

export async function startFakeApi(registration: FakeApi['registration']): Promise<FakeApi> {
  const token = 'test-pilot-token';
  const requests: RecordedRequest[] = [];
  const jobs = new Map<string, ClaimAnswer>();
  const kill = new Map<string, string>();
  // One object, handed to the test and read by the server, so that refuse/vend set later count.
  const api: FakeApi = {
    url: '',
    token,
    requests,
    jobs,
    kill,
    registration,
    bodies: <T>(route: string) =>
      requests.filter((r) => r.method === 'POST' && routeOf(r.path) === route).map((r) => r.body as T),
    stop: async () => {},
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      let body: unknown;
      try {
        body = await readBody(req);
      } catch {
        send(res, 400, { error: { code: 'INVALID_INPUT', message: 'body is not JSON' } });
        return;
      }
      requests.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization, body });
      if (req.headers.authorization !== `Bearer ${token}`) {
        send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'bad token' } });
        return;
      }
      const route = req.method === 'POST' ? routeOf(path) : undefined;
      const now = Date.now();
      switch (route) {
        case 'register': {
          const parsed = PilotRegistrationSchema.safeParse(body);
          if (!parsed.success) return invalid(res, parsed.error);
          // As the API does: a failed node check makes the pilot unhealthy, not accepted.
          const failed = (parsed.data.health ?? []).filter((c) => !c.ok).map((c) => c.name);
          const reason = failed.length > 0 ? `unhealthy node: ${failed.join(', ')} failed` : api.refuse;
          const answer: RegisterPilotResponse = {
            pilotId: PILOT_ID,
            siteId: api.registration.siteId,
            accepted: reason === undefined,
            ...(reason === undefined ? {} : { reason }),
            queueUrl: api.registration.queueUrl,
            bucket: api.registration.bucket,
            heartbeatSec: 1,
            leaseSec: 60,
            serverTime: new Date(now).toISOString(),
          };
          const vend = api.vend;
          if (reason === undefined && vend !== undefined) answer.credentials = vend();
          return send(res, 201, answer);
        }
        case 'claim': {
          if (api.gone === true) return send(res, 409, GONE);
          const parsed = ClaimRequestSchema.safeParse(body);
          if (!parsed.success) return invalid(res, parsed.error);
          const found = jobs.get(`${parsed.data.taskId}.${parsed.data.jobIndex}`);
          let answer: ClaimResponse;
          if (found === undefined) answer = { outcome: 'stale', reason: 'no such job' };
          else if ('outcome' in found) answer = found;
          else answer = { outcome: 'claimed', job: found };
          return send(res, 200, answer);
        }
        case 'heartbeat': {
          if (api.gone === true) return send(res, 409, GONE);
          const parsed = HeartbeatRequestSchema.safeParse(body);
          if (!parsed.success) return invalid(res, parsed.error);
          const answer: HeartbeatResponse = {
            jobs: parsed.data.jobs.map((j) => {
              const reason = kill.get(`${j.taskId}.${j.jobIndex}`);
              const ref = { taskId: j.taskId, jobIndex: j.jobIndex, attempt: j.attempt };
              return reason === undefined
                ? { ...ref, action: 'continue' }
                : { ...ref, action: 'kill', reason };
            }),
            leaseExpiresAt: now + 60_000,
            serverTime: new Date(now).toISOString(),
          };
          return send(res, 200, answer);
        }
        case 'credentials': {
          const vend = api.vend;
          if (vend === undefined)
            return send(res, 404, { error: { code: 'NOT_FOUND', message: 'no credentials here' } });
          return send(res, 200, vend());
        }
        case 'complete': {
          const parsed = CompleteRequestSchema.safeParse(body);
          if (!parsed.success) return invalid(res, parsed.error);
          return send(res, 200, { outcome: 'recorded', jobState: 'finished', attempt: parsed.data.attempt });
        }
        default:
          return send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
      }
    })().catch((error: unknown) => send(res, 500, { error: { code: 'INTERNAL', message: String(error) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  api.url = `http://127.0.0.1:${port}`;
  api.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return api;
}

const GONE = { error: { code: 'CONFLICT', message: 'pilot is lost; register again' } };
