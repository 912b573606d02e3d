import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorBody, JobView, SandboxRequest, TaskView } from '#core/api/contract.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import { emptyJobCounts } from '#core/tasks/task.ts';

export const TOKEN = 'test-token';
export const TASK_ID = 't-0123456789ab';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  body: Buffer;
}

/**
 * A small HTTP server speaking the Gluon API contract (core/api.ts), with canned answers, that
 * records every request. Presigned upload URLs point back at it (`PUT /upload/<key>`).
 */
export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  /** Views `GET /tasks/{id}` answers in turn; the last one repeats. */
  taskViews: TaskView[] = [taskView()];
  jobs: JobView[] = [job(0), job(1), job(2)];
  pageSize = 2;
  pilots: Pilot[] = [pilot()];
  #server: Server | undefined;
  #taskGets = 0;
  url = '';

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

  #handle(req: IncomingMessage, body: Buffer, res: ServerResponse): undefined {
    const url = new URL(req.url ?? '/', this.url);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      body,
    };
    this.requests.push(recorded);
    const send = (status: number, value: unknown): undefined => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const fail = (
      status: number,
      code: string,
      message: string,
      issues?: ErrorBody['error']['issues'],
    ): undefined =>
      send(status, {
        error: { code, message, ...(issues === undefined ? {} : { issues }) },
      } satisfies ErrorBody);

    if (recorded.method === 'PUT' && url.pathname.startsWith('/upload/')) {
      res.writeHead(200, { etag: '"x"' });
      res.end();
      return;
    }
    if (recorded.authorization !== `Bearer ${TOKEN}`)
      return fail(401, 'UNAUTHORIZED', 'missing or bad token');
    const route = `${recorded.method} ${url.pathname}`;
    const json = () => JSON.parse(body.toString('utf8')) as Record<string, unknown>;

    if (route === 'POST /sandboxes') {
      const request = json() as SandboxRequest;
      return send(200, {
        files: request.files.map((f) => {
          const key = `sandboxes/alice/${f.sha256}/${f.name}`;
          return { ...f, key, uploadUrl: `${this.url}/upload/${key}?X-Amz-Signature=fake` };
        }),
      });
    }
    if (route === 'POST /tasks') {
      const spec = json();
      if (spec.name === 'refused-by-server') {
        return fail(
          400,
          'INVALID_INPUT',
          'invalid task spec: payload.command: not on the allow list; sites.allow.0: unknown site',
          [
            { field: 'payload.command', message: 'not on the allow list' },
            { field: 'sites.allow.0', message: 'unknown site' },
          ],
        );
      }
      return send(201, { taskId: TASK_ID, state: 'submitted', jobCount: 10 });
    }
    if (route === 'GET /tasks') {
      const summary = { ...taskView() } as Partial<TaskView>;
      delete summary.spec;
      delete summary.history;
      return send(200, { tasks: [summary] });
    }
    if (route === `GET /tasks/${TASK_ID}`) {
      const view = this.taskViews[Math.min(this.#taskGets, this.taskViews.length - 1)];
      this.#taskGets += 1;
      return send(200, view);
    }
    if (route === `GET /tasks/${TASK_ID}/jobs`) {
      const state = url.searchParams.get('state');
      const all = state === null ? this.jobs : this.jobs.filter((j) => j.state === state);
      const start = Number(url.searchParams.get('nextToken') ?? '0');
      const limit = Math.min(this.pageSize, Number(url.searchParams.get('limit') ?? '100'));
      const items = all.slice(start, start + limit);
      const next = start + limit < all.length ? String(start + limit) : undefined;
      return send(200, { jobs: items, ...(next === undefined ? {} : { nextToken: next }) });
    }
    if (route === `POST /tasks/${TASK_ID}/cancel`) {
      return send(202, { taskId: TASK_ID, state: 'running', cancelRequested: true });
    }
    if (route === 'GET /pilots') return send(200, { pilots: this.pilots });
    if (url.pathname.startsWith('/tasks/'))
      return fail(404, 'NOT_FOUND', `task ${url.pathname.split('/')[2]} not found`);
    return fail(404, 'NOT_FOUND', `no route ${route}`);
  }
}

export function taskView(partial: Partial<TaskView> = {}): TaskView {
  return {
    taskId: TASK_ID,
    name: 'zmumu-demo',
    owner: 'alice',
    state: 'running',
    jobCount: 3,
    jobsEnqueued: 3,
    counts: { ...emptyJobCounts(), finished: 1, running: 1, queued: 1 },
    siteIds: ['local'],
    cancelRequested: false,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:01:00.000Z',
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
    pilotId: 'p-abcdef1234',
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
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:01:00.000Z',
    attempts: [],
    ...partial,
  };
}

export function pilot(): Pilot {
  return {
    pilotId: 'p-abcdef1234',
    siteId: 'local',
    host: 'node1',
    pid: 4242,
    version: 'dev',
    resources: { cores: 2, memoryMB: 4000, diskMB: 10_000, walltimeLeftSec: 3600 },
    state: 'idle',
    registeredAt: '2026-11-25T10:00:00.000Z',
    lastHeartbeatAt: '2026-11-25T10:00:30.000Z',
    jobsRun: 3,
  };
}
