/**
 * A small HTTP server speaking the Gluon API for the CLI tests: the operations of
 * core/api/operations.ts at their paths, requests checked with the operations' schemas (a bad
 * field is a 400 naming it, as at the real edge), answers typed as the operations' answers (the
 * typed client checks every answer, so a wrong fake would be an error), every request recorded.
 * Presigned upload URLs point back at it (`PUT /upload/<key>`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorBody } from '#core/api/common.ts';
import { OPERATIONS, type OperationId, type ResponseOf } from '#core/api/operations.ts';
import type { PilotView } from '#core/api/pilots.ts';
import type { SiteDetail, SiteView } from '#core/api/sites.ts';
import type {
  JobExplanation,
  JobView,
  SandboxRequest,
  TaskExplanation,
  TaskSummary,
  TaskView,
} from '#core/api/tasks.ts';
import { type FieldIssue, fieldIssues } from '#core/errors.ts';
import { emptyJobCounts, type JobCounts } from '#core/jobs/job-counts.ts';

export const TOKEN = 'test-token';
export const TASK_ID = 't-0123456789ab';
export const PILOT_ID = 'p-abcdef1234';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  /** The Idempotency-Key header, when sent. */
  idempotencyKey?: string;
  body: Buffer;
  /** The operation the request was routed to (none for uploads and unknown routes). */
  operationId?: OperationId;
}

/** A request as its operation's schemas parsed it. */
interface Parsed {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

class Refusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: FieldIssue[] | undefined;
  constructor(status: number, code: string, message: string, issues?: FieldIssue[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

type Answers = { [K in OperationId]?: (request: Parsed) => ResponseOf<K> };

const ROUTES = (Object.keys(OPERATIONS) as OperationId[]).map((id) => ({
  id,
  method: OPERATIONS[id].method,
  names: [...OPERATIONS[id].path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1] as string),
  pattern: new RegExp(`^${OPERATIONS[id].path.replace(/\{[A-Za-z]+\}/g, '([^/]+)')}$`),
}));

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  /** Views `GET /tasks/{id}` answers in turn; the last one repeats. */
  taskViews: TaskView[] = [taskView()];
  tasks: TaskSummary[] = [taskSummary()];
  jobs: JobView[] = [job(0), job(1), job(2)];
  /** Pilots `GET /pilots` lists (a function: made at the time of the answer). */
  pilots: PilotView[] | (() => PilotView[]) = [pilotView()];
  sites: SiteView[] = [siteView()];
  /** Most items a page holds, whatever limit is asked for. */
  pageSize = 2;
  /** Raw answers sent instead of the typed ones (a server of another version). */
  readonly raw = new Map<OperationId, { status: number; body: unknown }>();
  /** Refusals sent instead of the answer of an operation. */
  readonly refusals = new Map<OperationId, ErrorBody['error'] & { status: number }>();
  url = '';
  #server: Server | undefined;
  #taskGets = 0;

  readonly #answers: Answers = {
    createSandbox: ({ body }) => {
      const request = body as SandboxRequest;
      return {
        files: request.files.map((f) => {
          const key = `sandboxes/alice/${f.sha256}/${f.name}`;
          return { ...f, key, uploadUrl: `${this.url}/upload/${key}?X-Amz-Signature=fake` };
        }),
      };
    },
    submitTask: ({ body }) => {
      const spec = body as { name: string };
      if (spec.name === 'refused-by-server') {
        const issues = [
          { field: 'payload.command', message: 'not on the allow list (see the site policy)' },
          { field: 'sites.allow.0', message: 'unknown site' },
        ];
        throw new Refusal(
          400,
          'INVALID_INPUT',
          `invalid task spec: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
          issues,
        );
      }
      return { taskId: TASK_ID, state: 'submitted', jobCount: 10 };
    },
    listTasks: ({ query }) => this.#page(this.tasks, query),
    getTask: ({ params }) => {
      this.#taskExists(params.taskId);
      const view = this.taskViews[Math.min(this.#taskGets, this.taskViews.length - 1)] as TaskView;
      this.#taskGets += 1;
      return view;
    },
    listJobs: ({ params, query }) => {
      this.#taskExists(params.taskId);
      const state = query.state;
      return this.#page(state === undefined ? this.jobs : this.jobs.filter((j) => j.state === state), query);
    },
    getJob: ({ params }) => {
      this.#taskExists(params.taskId);
      const index = Number(params.jobIndex);
      const found = this.jobs.find((j) => j.jobIndex === index);
      if (found === undefined) throw new Refusal(404, 'NOT_FOUND', `job ${params.taskId}.${index} not found`);
      return { ...found, attempts: found.attempts ?? [] };
    },
    cancelTask: ({ params }) => {
      this.#taskExists(params.taskId);
      return { taskId: TASK_ID, state: 'running', cancelRequested: true };
    },
    explainTask: ({ params }) => {
      this.#taskExists(params.taskId);
      return explanation();
    },
    resubmitTask: ({ params, body }) => {
      this.#taskExists(params.taskId);
      const chosen = (body as { jobs?: string }).jobs !== undefined;
      return {
        taskId: TASK_ID,
        state: 'running',
        jobs: chosen ? 4 : 2,
        alreadyResubmitted: chosen ? 0 : 1,
        reopened: true,
        siteIds: ['grid-a', 'local'],
      };
    },
    explainJob: ({ params }) => {
      this.#taskExists(params.taskId);
      return jobExplanation(Number(params.jobIndex));
    },
    listPilots: ({ query }) =>
      this.#page(typeof this.pilots === 'function' ? this.pilots() : this.pilots, query),
    listSites: () => ({ items: this.sites }),
    getSite: ({ params }) => {
      const site = this.sites.find((s) => s.siteId === params.siteId);
      if (site === undefined) throw new Refusal(404, 'NOT_FOUND', `site ${params.siteId} does not exist`);
      return siteDetail(site);
    },
    putSite: ({ params, body }) => {
      const site = body as Omit<SiteView, 'siteId'>;
      return {
        siteId: params.siteId as string,
        kind: site.kind,
        status: site.status ?? 'online',
        slot: site.slot,
        maxPilots: site.maxPilots,
        tags: site.tags,
        queueUrl: `${this.url}/000000000000/gluon-site-${params.siteId}`,
      };
    },
  };

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  find(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  /** Requests routed to one operation. */
  calls(operationId: OperationId): RecordedRequest[] {
    return this.requests.filter((r) => r.operationId === operationId);
  }

  #taskExists(taskId: string | undefined): void {
    if (taskId !== TASK_ID) throw new Refusal(404, 'NOT_FOUND', `task ${taskId} not found`);
  }

  /** One page of `items` from the `nextToken` the query gives (an opaque token, as the real one). */
  #page<T>(items: T[], query: Record<string, unknown>): { items: T[]; nextToken?: string } {
    const token = query.nextToken as string | undefined;
    const start = token === undefined ? 0 : Number(Buffer.from(token, 'base64url').toString().slice(5));
    const size = Math.min(this.pageSize, query.limit as number);
    const end = start + size;
    return {
      items: items.slice(start, end),
      ...(end < items.length ? { nextToken: Buffer.from(`page:${end}`).toString('base64url') } : {}),
    };
  }

  #handle(req: IncomingMessage, body: Buffer, res: ServerResponse): undefined {
    const url = new URL(req.url ?? '/', this.url);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      ...(typeof req.headers['idempotency-key'] === 'string'
        ? { idempotencyKey: req.headers['idempotency-key'] }
        : {}),
      body,
    };
    this.requests.push(recorded);
    const send = (status: number, value: unknown): undefined => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const refuse = (refusal: Refusal): undefined =>
      send(refusal.status, {
        error: {
          code: refusal.code,
          message: refusal.message,
          ...(refusal.issues === undefined ? {} : { issues: refusal.issues }),
        },
      } satisfies ErrorBody);

    if (recorded.method === 'PUT' && url.pathname.startsWith('/upload/')) {
      res.writeHead(200, { etag: '"x"' });
      res.end();
      return;
    }
    if (recorded.authorization !== `Bearer ${TOKEN}`) {
      return refuse(new Refusal(401, 'UNAUTHORIZED', 'token expired'));
    }
    const route = ROUTES.find((r) => r.method === recorded.method && r.pattern.test(url.pathname));
    if (route === undefined) {
      return refuse(new Refusal(404, 'NOT_FOUND', `no route for ${recorded.method} ${url.pathname}`));
    }
    recorded.operationId = route.id;
    const raw = this.raw.get(route.id);
    if (raw !== undefined) return send(raw.status, raw.body);
    const refusal = this.refusals.get(route.id);
    if (refusal !== undefined) {
      const { status, ...error } = refusal;
      return send(status, { error });
    }
    try {
      const match = route.pattern.exec(url.pathname) as RegExpExecArray;
      const params = Object.fromEntries(
        route.names.map((name, i) => [name, decodeURIComponent(match[i + 1] as string)]),
      );
      const parsed: Parsed = {
        params: this.#check(OPERATIONS[route.id], 'params', params, 'path') as Record<string, string>,
        query: this.#check(
          OPERATIONS[route.id],
          'query',
          Object.fromEntries(url.searchParams),
          'query',
        ) as Record<string, unknown>,
        body: this.#check(
          OPERATIONS[route.id],
          'body',
          body.length === 0 ? undefined : JSON.parse(body.toString('utf8')),
        ),
      };
      const answer = this.#answers[route.id] as ((request: Parsed) => unknown) | undefined;
      if (answer === undefined) {
        return refuse(new Refusal(501, 'NOT_IMPLEMENTED', `the fake API does not answer ${route.id}`));
      }
      return send(OPERATIONS[route.id].status, answer(parsed));
    } catch (error) {
      if (error instanceof Refusal) return refuse(error);
      throw error;
    }
  }

  /** Parses one part of a request with its operation's schema, as the real edge does. */
  #check(operation: object, part: 'params' | 'query' | 'body', value: unknown, prefix?: string): unknown {
    const schema = (operation as Record<string, { safeParse(v: unknown): unknown } | undefined>)[part];
    if (schema === undefined) return {};
    const result = schema.safeParse(value ?? {}) as
      | { success: true; data: unknown }
      | { success: false; error: { issues: Parameters<typeof fieldIssues>[0] } };
    if (result.success) return result.data;
    const issues = fieldIssues(result.error.issues, prefix);
    throw new Refusal(400, 'INVALID_INPUT', `invalid ${part}`, issues);
  }
}

export function counts(partial: Partial<JobCounts> = {}): JobCounts {
  return { ...emptyJobCounts(), ...partial };
}

export function taskSummary(partial: Partial<TaskSummary> = {}): TaskSummary {
  return {
    taskId: TASK_ID,
    name: 'zmumu-demo',
    owner: 'alice',
    state: 'running',
    jobCount: 3,
    jobsEnqueued: 3,
    counts: counts({ finished: 1, running: 1, queued: 1 }),
    siteIds: ['local'],
    cancelRequested: false,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:01:00.000Z',
    ...partial,
  };
}

export function taskView(partial: Partial<TaskView> = {}): TaskView {
  return {
    ...taskSummary(),
    spec: {
      name: 'zmumu-demo',
      payload: { command: 'node', args: [], env: {}, sandbox: [] },
      events: 30,
      retry: { memoryFactor: 1.5, walltimeFactor: 1.5 },
      split: { eventsPerJob: 10 },
      resources: { cores: 1, memoryMB: 500, walltimeSec: 300, diskMB: 100 },
      priority: 500,
      maxAttempts: 3,
      outputs: ['histogram.json'],
      sites: { deny: [] },
    },
    history: [{ state: 'submitted', at: '2026-11-25T10:00:00.000Z' }],
    ...partial,
  };
}

export function job(jobIndex: number, partial: Partial<JobView> = {}): JobView {
  return {
    jobId: `${TASK_ID}.${jobIndex}`,
    taskId: TASK_ID,
    jobIndex,
    state: 'finished',
    attempt: 1,
    siteId: 'local',
    pilotId: PILOT_ID,
    exitCode: 0,
    pilotErrorCode: 0,
    usage: { wallTimeSec: 1.5, cpuTimeSec: 1.2, maxRssKB: 40_000 },
    outputs: [
      {
        name: 'histogram.json',
        key: `tasks/${TASK_ID}/jobs/${jobIndex}/attempt-1/histogram.json`,
        bytes: 900,
      },
    ],
    startedAt: '2026-11-25T10:00:10.000Z',
    endedAt: '2026-11-25T10:00:12.000Z',
    ...partial,
  };
}

/** A busy pilot holding one job. */
export function pilotView(partial: Partial<PilotView> = {}): PilotView {
  return {
    pilotId: PILOT_ID,
    siteId: 'local',
    host: 'node1',
    pid: 4242,
    version: 'dev',
    resources: { cores: 2, memoryMB: 4000, diskMB: 10_000, walltimeLeftSec: 3600 },
    state: 'busy',
    registeredAt: '2026-11-25T10:00:00.000Z',
    lease: {
      state: 'busy',
      expiresAt: '2026-11-25T10:01:00.000Z',
      beatAt: '2026-11-25T10:00:30.000Z',
      jobs: [`${TASK_ID}.1.1`],
    },
    ...partial,
  };
}

export function siteView(partial: Partial<SiteView> = {}): SiteView {
  return {
    siteId: 'local',
    kind: 'local',
    status: 'online',
    slot: { cores: 8, memoryMB: 16_000, walltimeSec: 86_400, diskMB: 50_000 },
    maxPilots: 4,
    tags: ['local', 'fast'],
    pilots: { starting: 0, idle: 1, busy: 2, draining: 0, classes: { score: 3, mcore: 3, himem: 1 } },
    censusAt: '2026-11-25T10:00:30.000Z',
    ...partial,
  };
}

/** A site in test by site health, with its test task, outcomes and history. */
export function siteDetail(site: SiteView): SiteDetail {
  const sick = {
    at: '2026-11-25T10:05:00.000Z',
    from: 'online' as const,
    to: 'test' as const,
    reason:
      '6 of 7 recent attempts failed for infrastructure reasons (stage-in 6) in the last 60 min: above 50%',
    by: 'site-health',
  };
  return {
    ...site,
    status: 'test',
    statusChange: sick,
    testTask: {
      taskId: 't-test000001',
      sentAt: '2026-11-25T10:05:00.000Z',
      failures: 1,
      failedAt: '2026-11-25T10:06:00.000Z',
      nextAt: '2026-11-25T10:11:00.000Z',
      state: 'failed',
    },
    outcomes: {
      from: '2026-11-25T10:05:00.000Z',
      counts: {
        finished: 0,
        userFailed: 0,
        stageIn: 2,
        pilotLost: 0,
        claimAbandoned: 0,
        workdir: 0,
        nodeChecks: 1,
      },
      attempts: 3,
      infraFailures: 3,
    },
    history: [
      { at: '2026-11-25T09:00:00.000Z', to: 'online', reason: 'site defined', by: 'operator:ops' },
      sick,
    ],
  };
}

export function explanation(): TaskExplanation {
  return {
    taskId: TASK_ID,
    state: 'running',
    findings: ['1 job waits in the queue of site local.', 'Site grid-a is offline.'],
    sites: [
      {
        siteId: 'grid-a',
        chosen: false,
        rejected: 'site is offline',
        filter: 'status',
      },
      {
        siteId: 'local',
        chosen: true,
        weight: 0.625,
        status: 'online',
        queuedJobs: 1,
        pilots: { starting: 1, idle: 0, busy: 2, draining: 0 },
        maxPilots: 4,
      },
    ],
  };
}

export function jobExplanation(jobIndex: number): JobExplanation {
  return {
    taskId: TASK_ID,
    jobIndex,
    state: 'queued',
    attempt: 2,
    siteId: 'local',
    findings: [
      { code: 'state', message: `Job ${jobIndex} is queued (attempt 2).` },
      {
        code: 'sent-to',
        siteId: 'local',
        message: `Job ${jobIndex} was sent to site local: local gets 62.5% of the task's jobs.`,
      },
      { code: 'pilots-busy', siteId: 'local', message: 'All 2 pilots at local are busy (cap 4).' },
    ],
  };
}
