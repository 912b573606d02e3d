/**
 * A small HTTP server speaking the pilot operations of the Gluon API (core/api/operations.ts:
 * registerPilot, claimJob, completeJob, renewPilotCredentials), to run the real pilot against.
 * Paths and bodies are checked with the operations' own zod schemas (a bad field gets the API's
 * 400 naming it), answers follow the response schemas, errors are `{error: {code, message}}`
 * (PILOT_GONE with 410). Leases live in a PilotLeaseStore the pilot renews itself (in memory for
 * a pilot in this process, DynamoDB Local for a pilot process): registration creates the lease, a
 * claim holds the attempt, a report (alone or with a claim) drops it and its kill entries, as the
 * API does. Everything the pilot sent is recorded.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import { PilotPathSchema } from '#core/api/common.ts';
import { OPERATIONS } from '#core/api/operations.ts';
import type {
  ClaimedJob,
  ClaimResponse,
  CompleteResponse,
  PilotCredentials,
  RegisterPilotResponse,
  Report,
} from '#core/api/pilots.ts';
import { attemptKey, type JobRef } from '#core/jobs/job.ts';
import { killEntriesOf, leaseExpiry } from '#core/pilots/lease.ts';
import type { PilotLeaseStore } from '#core/pilots/ports.ts';
import { InMemoryPilotLeaseStore } from '../../support/in-memory-ports.ts';

export type PilotOperation = 'registerPilot' | 'claimJob' | 'completeJob' | 'renewPilotCredentials';

/** What the fake parsed from each operation's body (schema defaults filled in). */
export interface PilotBodies {
  registerPilot: z.infer<typeof OPERATIONS.registerPilot.body>;
  claimJob: z.infer<typeof OPERATIONS.claimJob.body>;
  completeJob: z.infer<typeof OPERATIONS.completeJob.body>;
  renewPilotCredentials: Record<string, never>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  operation: PilotOperation | undefined;
  authorization: string | undefined;
  /** The body as sent. */
  body: unknown;
  /** The body as the schema parsed it; undefined when it was refused. */
  parsed?: unknown;
}

/** What a claim of `<taskId>.<jobIndex>` gets; unknown jobs are 'stale'. */
export type ClaimAnswer = ClaimedJob | { outcome: 'stale' | 'cancelled' | 'unfit'; reason: string };

/** An error answer a test makes the API give. */
export interface InjectedError {
  status: number;
  code: string;
  message?: string;
}

export interface FakeApiOptions {
  queueUrl: string;
  bucket: string;
  siteId: string;
  /** Where leases live (default: a new in-memory store). */
  leases?: PilotLeaseStore;
}

export interface FakeApi {
  url: string;
  token: string;
  /** The lease store the API writes and the pilot renews. */
  leases: PilotLeaseStore;
  /** Every pilot id handed out, in order (a registration sent again with its key gets its id again, not listed twice). */
  pilotIds: string[];
  /** The last pilot id handed out. */
  readonly pilotId: string;
  requests: RecordedRequest[];
  jobs: Map<string, ClaimAnswer>;
  /** `queues`: the class queues registration names (default: the single-core queue only). */
  registration: {
    queueUrl: string;
    bucket: string;
    siteId: string;
    queues?: RegisterPilotResponse['queues'];
  };
  /** Given at registration. */
  heartbeatSec: number;
  leaseSec: number;
  /** Set: registration answers accepted=false with this reason (as for a site that refuses pilots). */
  refuse?: string;
  /** Set: credentials vended at registration and by each renewal (called once per answer). */
  vend?: () => PilotCredentials;
  /** Errors the next claims get, first one first, before anything is written. */
  claimErrors: InjectedError[];
  /** This many more registrations land (the pilot and its lease exist) but their answer is lost. */
  loseRegisterAnswers: number;
  /**
   * Claims of these jobs (`<taskId>.<jobIndex>`) land (the lease holds the attempt) but their
   * answer is lost (the connection is dropped), this many more times.
   */
  loseClaimAnswers: Map<string, number>;
  /** Set: every claim waits for this before it is handled (to keep a claim in flight). */
  claimGate?: () => Promise<void>;
  /** The parsed bodies of one operation's requests that passed validation, in order. */
  bodies<K extends PilotOperation>(operation: K): Array<PilotBodies[K]>;
  /** The reports the pilot sent, alone or with a claim, in order. */
  reports(): Report[];
  stop(): Promise<void>;
}

const ROUTES: Array<{ operation: PilotOperation; method: string; pattern: RegExp }> = [
  { operation: 'registerPilot', method: 'POST', pattern: /^\/pilots$/ },
  { operation: 'claimJob', method: 'POST', pattern: /^\/pilots\/([^/]+)\/claim$/ },
  { operation: 'completeJob', method: 'POST', pattern: /^\/pilots\/([^/]+)\/complete$/ },
  { operation: 'renewPilotCredentials', method: 'POST', pattern: /^\/pilots\/([^/]+)\/credentials$/ },
];

function routeOf(method: string, path: string): { operation: PilotOperation; pilotId?: string } | undefined {
  for (const route of ROUTES) {
    const match = route.method === method ? route.pattern.exec(path) : null;
    if (match !== null)
      return { operation: route.operation, ...(match[1] === undefined ? {} : { pilotId: match[1] }) };
  }
  return undefined;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: Array<{ field: string; message: string }>;

  constructor(
    status: number,
    code: string,
    message: string,
    issues: Array<{ field: string; message: string }> = [],
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Checks a value with a schema as the API's edge does: a bad field is a 400 naming it. */
function parse<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new HttpError(
    400,
    'INVALID_INPUT',
    'invalid request',
    result.error.issues.map((i) => ({
      field: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
      message: i.message,
    })),
  );
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_INPUT', 'the body is not JSON');
  }
}

const gone = (pilotId: string) =>
  new HttpError(410, 'PILOT_GONE', `pilot ${pilotId} is not live; register again`);

export async function startFakeApi(options: FakeApiOptions): Promise<FakeApi> {
  const token = `test-pilot-token-${randomBytes(4).toString('hex')}`;
  const requests: RecordedRequest[] = [];
  const leases = options.leases ?? new InMemoryPilotLeaseStore('gluon-test-leases');
  // One object, handed to the test and read by the server, so that what a test sets later counts.
  const api: FakeApi = {
    url: '',
    token,
    leases,
    pilotIds: [],
    get pilotId(): string {
      const last = api.pilotIds.at(-1);
      if (last === undefined) throw new Error('no pilot registered yet');
      return last;
    },
    requests,
    jobs: new Map(),
    registration: { queueUrl: options.queueUrl, bucket: options.bucket, siteId: options.siteId },
    heartbeatSec: 1,
    leaseSec: 60,
    claimErrors: [],
    loseRegisterAnswers: 0,
    loseClaimAnswers: new Map(),
    bodies: <K extends PilotOperation>(operation: K) =>
      requests
        .filter((r) => r.operation === operation && r.parsed !== undefined)
        .map((r) => r.parsed as PilotBodies[K]),
    reports: () =>
      requests.flatMap((r) => {
        if (r.parsed === undefined) return [];
        if (r.operation === 'completeJob') {
          const { holds: _holds, ...report } = r.parsed as PilotBodies['completeJob'];
          return [report];
        }
        if (r.operation === 'claimJob') {
          const report = (r.parsed as PilotBodies['claimJob']).report;
          return report === undefined ? [] : [report];
        }
        return [];
      }),
    stop: async () => {},
  };

  /** A report sets the attempts the pilot still holds and drops the kill entries of the one it ended. */
  const holdAfterReport = async (
    pilotId: string,
    report: Report,
    holds: JobRef[],
  ): Promise<CompleteResponse> => {
    await leases.hold(pilotId, {
      jobs: holds.map(attemptKey),
      state: holds.length > 0 ? 'busy' : 'idle',
      expiresAt: leaseExpiry(Date.now(), api.leaseSec),
      dropKills: killEntriesOf(report),
    });
    return {
      outcome: 'recorded',
      jobState: report.pilotErrorCode === 0 ? 'finished' : 'failed',
      attempt: report.attempt,
    };
  };

  /** Pilot ids by registration key: a registration sent again with its key is the same pilot. */
  const registered = new Map<string, string>();
  const register = async (registration: PilotBodies['registerPilot']): Promise<RegisterPilotResponse> => {
    const failed = (registration.health ?? []).filter((c) => !c.ok);
    const reason =
      failed.length > 0 ? `node checks failed: ${failed.map((c) => c.name).join(', ')}` : api.refuse;
    const accepted = reason === undefined;
    const key = registration.registrationKey;
    const known = key === undefined ? undefined : registered.get(key);
    const pilotId = known ?? `p-test${randomBytes(6).toString('hex')}`;
    if (known === undefined) api.pilotIds.push(pilotId);
    if (key !== undefined) registered.set(key, pilotId);
    const now = Date.now();
    if (accepted && known === undefined) {
      await leases.create({
        pilotId,
        siteId: api.registration.siteId,
        host: registration.host,
        state: 'starting',
        expiresAt: leaseExpiry(now, api.leaseSec),
        jobs: [],
        kill: [],
        jobsRun: 0,
        beatAt: new Date(now).toISOString(),
      });
    }
    const vend = api.vend;
    return {
      pilotId,
      siteId: api.registration.siteId,
      accepted,
      ...(reason === undefined ? {} : { reason }),
      queueUrl: api.registration.queueUrl,
      queues: api.registration.queues ?? [{ resourceClass: 'score', queueUrl: api.registration.queueUrl }],
      bucket: api.registration.bucket,
      leaseTable: leases.tableName,
      heartbeatSec: api.heartbeatSec,
      leaseSec: api.leaseSec,
      serverTime: new Date(now).toISOString(),
      ...(accepted && vend !== undefined ? { credentials: vend() } : {}),
    };
  };

  /** Answers a claim; undefined when its answer is to be lost. */
  const claim = async (
    pilotId: string,
    request: PilotBodies['claimJob'],
  ): Promise<ClaimResponse | undefined> => {
    await api.claimGate?.();
    const injected = api.claimErrors.shift();
    if (injected !== undefined) {
      throw new HttpError(injected.status, injected.code, injected.message ?? `injected ${injected.code}`);
    }
    const reportAnswer =
      request.report === undefined
        ? undefined
        : await holdAfterReport(pilotId, request.report, request.holds);
    const withReport = (answer: ClaimResponse): ClaimResponse => ({
      ...answer,
      ...(reportAnswer === undefined ? {} : { report: reportAnswer }),
    });
    const jobKey = `${request.taskId}.${request.jobIndex}`;
    const found = api.jobs.get(jobKey);
    if (found === undefined) return withReport({ outcome: 'stale', reason: 'no such job' });
    if ('outcome' in found) return withReport(found);
    const lease = await leases.hold(pilotId, {
      jobs: [...request.holds.map(attemptKey), attemptKey(request)],
      state: 'busy',
      expiresAt: leaseExpiry(Date.now(), api.leaseSec),
      dropKills: request.report === undefined ? [] : killEntriesOf(request.report),
    });
    if (lease === undefined) throw gone(pilotId);
    const lose = api.loseClaimAnswers.get(jobKey) ?? 0;
    if (lose > 0) {
      api.loseClaimAnswers.set(jobKey, lose - 1);
      return undefined;
    }
    return withReport({ outcome: 'claimed', job: found });
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      const method = req.method ?? 'GET';
      const route = routeOf(method, path);
      const record: RecordedRequest = {
        method,
        path,
        operation: route?.operation,
        authorization: req.headers.authorization,
        body: undefined,
      };
      requests.push(record);
      try {
        record.body = await readBody(req);
        if (route === undefined) throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${path}`);
        if (req.headers.authorization !== `Bearer ${token}`)
          throw new HttpError(401, 'UNAUTHORIZED', 'bad token');
        const pilotId =
          route.pilotId === undefined
            ? ''
            : parse(PilotPathSchema, { pilotId: route.pilotId }, 'path').pilotId;
        switch (route.operation) {
          case 'registerPilot': {
            const registration = parse(OPERATIONS.registerPilot.body, record.body, '');
            record.parsed = registration;
            const answer = await register(registration);
            if (api.loseRegisterAnswers > 0) {
              api.loseRegisterAnswers -= 1;
              res.socket?.destroy();
              return;
            }
            return send(res, 200, answer);
          }
          case 'claimJob': {
            const request = parse(OPERATIONS.claimJob.body, record.body, '');
            record.parsed = request;
            const answer = await claim(pilotId, request);
            if (answer === undefined) {
              res.socket?.destroy();
              return;
            }
            return send(res, 200, answer);
          }
          case 'completeJob': {
            const request = parse(OPERATIONS.completeJob.body, record.body, '');
            record.parsed = request;
            const { holds, ...report } = request;
            return send(res, 200, await holdAfterReport(pilotId, report, holds));
          }
          case 'renewPilotCredentials': {
            record.parsed = parse(OPERATIONS.renewPilotCredentials.body, record.body ?? {}, '');
            const lease = await leases.get(pilotId);
            if (lease === undefined || lease.state === 'lost' || lease.state === 'exited')
              throw gone(pilotId);
            const vend = api.vend;
            if (vend === undefined)
              throw new HttpError(404, 'NOT_FOUND', 'this deployment vends no credentials');
            return send(res, 200, vend());
          }
        }
      } catch (error) {
        if (error instanceof HttpError) {
          return send(res, error.status, {
            error: {
              code: error.code,
              message: error.message,
              ...(error.issues.length > 0 ? { issues: error.issues } : {}),
            },
          });
        }
        return send(res, 500, { error: { code: 'INTERNAL', message: String(error) } });
      }
    })();
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
