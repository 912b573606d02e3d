import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PilotView } from '#core/api/pilots.ts';
import type { SiteView } from '#core/api/sites.ts';
import type { AttemptView, JobView, TaskSummary, TaskView } from '#core/api/tasks.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { createHandler as getJobHandler } from '#lambdas/jobs/get-job/handler.ts';
import { type ApiServer, startApiServer } from '#local/api-server.ts';
import { createLocalAuth, LOCAL_USER_SUB } from '#local/auth.ts';
import { createHandlerHarness, type HandlerHarness, TEST_SITE } from '#test/support/handler-harness.ts';
import {
  FAILED,
  generationSpec,
  nth,
  refOf,
  registerPilot,
  report,
  runAttempt,
  runningTask,
} from '../lambdas/task-flow.ts';
import {
  counts,
  FakeApi,
  job,
  PILOT_ID,
  pilotView,
  siteDetail,
  siteView,
  TASK_ID,
  TOKEN,
  taskSummary,
  taskView,
} from './fake-api.ts';

const repo = join(import.meta.dirname, '../../..');
const main = join(repo, 'cli/main.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;

/** A fake API of its own for one test (the tests of a file run concurrently). */
async function withApi(test: (api: FakeApi) => Promise<void>): Promise<void> {
  const api = await new FakeApi().start();
  try {
    await test(api);
  } finally {
    await api.stop();
  }
}

/** Runs the real CLI process, from a directory with no .gluon/local.json above it. */
function gluon(
  api: Pick<FakeApi, 'url'>,
  args: string[],
  options: { env?: Record<string, string>; auth?: boolean; script?: string } = {},
): Promise<Run> {
  const auth = options.auth === false ? [] : ['--api-url', api.url, '--token', TOKEN];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    NO_COLOR: '1',
    ...options.env,
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.script ?? main, ...args, ...auth],
      { cwd: dir, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * A server that drops every connection at once, as an API that is not there: the port stays ours
 * for the test (a port merely closed could be taken by another process meanwhile).
 */
async function droppingServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-it-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.concurrent('gluon submit', () => {
  it('uploads a local sandbox file, then sends the spec with its key and checksum', () =>
    withApi(async (api) => {
      const specDir = join(dir, 'zmumu');
      mkdirSync(specDir, { recursive: true });
      copyFileSync(join(repo, 'examples/zmumu/task.yaml'), join(specDir, 'task.yaml'));
      copyFileSync(join(repo, 'examples/zmumu/zmumu.mjs'), join(specDir, 'zmumu.mjs'));
      const content = readFileSync(join(specDir, 'zmumu.mjs'));
      const sha256 = createHash('sha256').update(content).digest('hex');

      const run = await gluon(api, ['submit', 'zmumu/task.yaml', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const key = `sandboxes/alice/${sha256}/zmumu.mjs`;
      expect(JSON.parse(run.stdout)).toEqual({
        taskId: TASK_ID,
        state: 'submitted',
        jobCount: 10,
        sandbox: [{ name: 'zmumu.mjs', key, sha256, bytes: content.length }],
      });

      const [sandbox] = api.calls('createSandbox');
      expect(JSON.parse(sandbox?.body.toString() ?? '{}')).toEqual({
        files: [{ name: 'zmumu.mjs', sha256, bytes: content.length }],
      });
      const [put] = api.find('PUT', `/upload/${key}`);
      expect(put?.body.equals(content)).toBe(true);
      expect(put?.authorization).toBeUndefined();

      const [submit] = api.calls('submitTask');
      const spec = JSON.parse(submit?.body.toString() ?? '{}');
      expect(spec.payload.sandbox).toEqual([{ name: 'zmumu.mjs', key, sha256, bytes: content.length }]);
      expect(spec).toMatchObject({ name: 'zmumu-demo', events: 20000, split: { eventsPerJob: 2000 } });
      expect(api.requests.map((r) => r.operationId ?? `${r.method} upload`)).toEqual([
        'createSandbox',
        'PUT upload',
        'submitTask',
      ]);
    }));

  it('prints the task id and how to follow it, and asks for no upload URL without sandbox files', () =>
    withApi(async (api) => {
      const file = join(dir, 'plain.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'plain',
          payload: { command: 'true' },
          events: 10,
          split: { eventsPerJob: 5 },
        }),
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(
        `submitted task ${TASK_ID} (plain)\nfollow it with: gluon status ${TASK_ID} --watch\n`,
      );
      expect(api.calls('createSandbox')).toHaveLength(0);
    }));

  it('sends a new Idempotency-Key with each submit', () =>
    withApi(async (api) => {
      const file = join(dir, 'keyed.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'keyed',
          payload: { command: 'true' },
          events: 1,
          split: { eventsPerJob: 1 },
        }),
      );
      expect((await gluon(api, ['submit', file])).code).toBe(0);
      expect((await gluon(api, ['submit', file])).code).toBe(0);
      const keys = api.calls('submitTask').map((r) => r.idempotencyKey);
      expect(keys).toEqual([
        expect.stringMatching(/^[0-9a-f-]{36}$/),
        expect.stringMatching(/^[0-9a-f-]{36}$/),
      ]);
      expect(keys[0]).not.toBe(keys[1]);
    }));

  it('follows the submitted task with --watch --json and exits 0 when it is done', () =>
    withApi(async (api) => {
      api.taskViews = [
        taskView({ state: 'submitted', jobCount: 2, jobsEnqueued: 0, counts: counts({ defined: 2 }) }),
        taskView({ state: 'done', jobCount: 2, counts: counts({ finished: 2 }) }),
      ];
      const file = join(dir, 'watched.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'watched',
          payload: { command: 'true' },
          events: 2,
          split: { eventsPerJob: 1 },
        }),
      );
      const run = await gluon(api, ['submit', file, '--watch', '--json', '--interval', '0.05']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.state)).toEqual(['submitted', 'submitted', 'done']);
      expect(lines[0]).toEqual({ taskId: TASK_ID, state: 'submitted', jobCount: 10, sandbox: [] });
    }));

  it('lists every bad field of an invalid spec file, exits 2 and sends nothing', () =>
    withApi(async (api) => {
      const file = join(dir, 'invalid.yaml');
      writeFileSync(
        file,
        [
          'name: "has spaces"',
          'payload:',
          '  command: ""',
          `  args: ["\${nope}"]`,
          'events: 100',
          'split: { eventsPerJob: 10 }',
          'resources: { cores: 0, memoryMB: 500 }',
          'maxAttempts: 11',
          'colour: blue',
        ].join('\n'),
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(2);
      for (const field of [
        'spec.name',
        'spec.payload.command',
        'spec.payload.args.0',
        'spec.resources.cores',
        'spec.maxAttempts',
        'spec.colour',
      ]) {
        expect(run.stderr).toMatch(new RegExp(`^  ${field.replaceAll('.', '\\.')}: `, 'm'));
      }
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(api.requests).toHaveLength(0);
    }));

  it('prints the message of a 400 once and its fields one per line, and exits 1', () =>
    withApi(async (api) => {
      const file = join(dir, 'refused.yaml');
      writeFileSync(
        file,
        'name: refused-by-server\npayload: { command: rm }\nevents: 1\nsplit: { eventsPerJob: 1 }\n',
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        'error: invalid task spec (HTTP 400 INVALID_INPUT)\n' +
          '  payload.command: not on the allow list (see the site policy)\n' +
          '  sites.allow.0: unknown site\n',
      );
    }));

  it('names a sandbox file that is missing and sends nothing', () =>
    withApi(async (api) => {
      const file = join(dir, 'lost-sandbox.yaml');
      writeFileSync(
        file,
        'name: t\npayload: { command: node, sandbox: [gone.mjs] }\nevents: 1\nsplit: { eventsPerJob: 1 }\n',
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`sandbox file gone.mjs not found: looked for ${join(dir, 'gone.mjs')}`);
      expect(api.requests).toHaveLength(0);
    }));
});

describe.concurrent('gluon status', () => {
  it('prints the task view as JSON', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['status', TASK_ID, '--json']);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout) as TaskView).toEqual(taskView());
    }));

  it('shows name, state and the progress bar', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['status', TASK_ID]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`zmumu-demo  ${TASK_ID}\nstate: running\n`);
      expect(run.stdout).toContain(' 33% of 3 jobs');
      expect(run.stdout).toContain(
        '# finished 1  X failed 0  / cancelled 0  > running 1  . queued 1  _ defined 0',
      );
      expect(run.stdout).not.toContain('starting');
      expect(run.stdout).not.toContain('\u001b[');
    }));

  it('follows the task with --watch --json, one line per change, and exits 0 when done', () =>
    withApi(async (api) => {
      api.taskViews = [
        taskView(),
        taskView(),
        taskView({ counts: counts({ finished: 2, running: 1 }) }),
        taskView({ state: 'done', counts: counts({ finished: 3 }), endedAt: '2026-11-25T10:02:00.000Z' }),
      ];
      const run = await gluon(api, ['status', TASK_ID, '--watch', '--json', '--interval', '0.05']);
      expect(run.code).toBe(0);
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as TaskView);
      expect(lines.map((l) => [l.state, l.counts.finished])).toEqual([
        ['running', 1],
        ['running', 2],
        ['done', 3],
      ]);
      expect(api.calls('getTask')).toHaveLength(4);
      // --json leaves the summary out, so the jobs are not listed.
      expect(api.calls('listJobs')).toHaveLength(0);
    }));

  it('exits 1 when the watched task ends partial, after a summary of its jobs', () =>
    withApi(async (api) => {
      api.taskViews = [taskView({ state: 'partial', counts: counts({ finished: 2, failed: 1 }) })];
      api.jobs = [
        job(0),
        job(1),
        job(2, {
          state: 'failed',
          attempt: 3,
          exitCode: 1,
          pilotErrorCode: 1001,
          errorMessage: 'segfault in toy',
        }),
      ];
      const run = await gluon(api, ['status', TASK_ID, '--watch', '--interval', '0.05']);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`Task ${TASK_ID} (zmumu-demo): partial`);
      expect(run.stdout).toContain('jobs:     3 (finished 2, failed 1)');
      expect(run.stdout).toContain('attempts: 5 used (2 retries)');
      expect(run.stdout).toContain(`tasks/${TASK_ID}/jobs/0/attempt-1/histogram.json`);
      expect(run.stdout).toContain(
        'job 2 attempt 3: failed: error 1001 (payload exited with a non-zero code), exit 1: segfault in toy',
      );
      // Two jobs a page: the summary read both pages.
      expect(api.calls('listJobs')).toHaveLength(2);
    }));

  it('says when the task does not exist, exit 1', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['status', 't-doesnotexist']);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('error: task t-doesnotexist not found (HTTP 404 NOT_FOUND)\n');
    }));
});

describe.concurrent('gluon jobs and tasks', () => {
  it('lists every job across pages with --json, passing the page token back as given', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['jobs', TASK_ID, '--json']);
      expect(run.code).toBe(0);
      const jobs = JSON.parse(run.stdout) as JobView[];
      expect(jobs).toEqual([job(0), job(1), job(2)]);
      const pages = api.calls('listJobs');
      expect(pages.map((p) => p.query.get('nextToken'))).toEqual([
        null,
        Buffer.from('page:2').toString('base64url'),
      ]);
    }));

  it('stops at --limit and passes --state on', () =>
    withApi(async (api) => {
      api.jobs = [job(0, { state: 'failed', pilotErrorCode: 1001 }), job(1), job(2), job(3), job(4)];
      const run = await gluon(api, ['jobs', TASK_ID, '--json', '--limit', '3', '--state', 'finished']);
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as JobView[]).map((j) => j.jobIndex)).toEqual([1, 2, 3]);
      const pages = api.calls('listJobs');
      expect(pages.map((p) => [p.query.get('state'), p.query.get('limit')])).toEqual([
        ['finished', '3'],
        ['finished', '1'],
      ]);
    }));

  it('prints a jobs table', () =>
    withApi(async (api) => {
      api.jobs = [
        job(0),
        job(1, { state: 'queued', attempt: 2, pilotId: undefined, exitCode: undefined, usage: undefined }),
      ];
      const run = await gluon(api, ['jobs', TASK_ID]);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^INDEX\s+STATE\s+ATTEMPT\s+SITE\s+PILOT\s+EXIT\s+ERROR\s+WALL S\s+MESSAGE$/);
      expect(lines[1]).toMatch(new RegExp(`^0\\s+finished\\s+1\\s+local\\s+${PILOT_ID}\\s+0\\s+-\\s+1\\.5$`));
      expect(lines[2]).toMatch(/^1\s+queued\s+2\s+local\s+-\s+-\s+-\s+-$/);
    }));

  it('lists tasks page after page up to --limit', () =>
    withApi(async (api) => {
      api.tasks = ['t-aaaaaaaa', 't-bbbbbbbb', 't-cccccccc'].map((taskId, i) =>
        taskSummary({ taskId, name: `task-${i}` }),
      );
      const run = await gluon(api, ['tasks', '--limit', '3']);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^ID\s+NAME\s+STATE\s+JOBS\s+DONE\s+CREATED$/);
      expect(lines.slice(1)).toHaveLength(3);
      expect(lines[3]).toMatch(/^t-cccccccc\s+task-2\s+running\s+3\s+33%\s+2026-11-25 10:00:00$/);
      expect(api.calls('listTasks').map((r) => r.query.get('limit'))).toEqual(['3', '1']);
    }));

  it('prints task summaries with --json', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['tasks', '--json']);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout) as TaskSummary[]).toEqual([taskSummary()]);
    }));
});

/** Job 1 of the fake task: killed for memory on wn01, then finished with more memory on wn02. */
function retriedJob(): JobView {
  const key = (attempt: number, name: string) => `tasks/${TASK_ID}/jobs/1/attempt-${attempt}/${name}`;
  const first: AttemptView = {
    attempt: 1,
    pilotId: PILOT_ID,
    siteId: 'local',
    host: 'wn01',
    state: 'failed',
    startedAt: '2026-11-25T10:00:10.000Z',
    endedAt: '2026-11-25T10:00:14.000Z',
    pilotErrorCode: 1102,
    exitCode: 137,
    signal: 'SIGKILL',
    errorMessage: 'RSS 612 MB over the 500 MB asked for',
    usage: { wallTimeSec: 4, cpuTimeSec: 3.5, maxRssKB: 626_688 },
    log: { name: 'attempt.log', key: key(1, 'attempt.log'), bytes: 2048 },
  };
  const outputs = [
    { name: 'histogram.json', key: key(2, 'histogram.json'), bytes: 900, adler32: '0a1b2c3d' },
  ];
  const log = { name: 'attempt.log', key: key(2, 'attempt.log'), bytes: 1024 };
  const usage = { wallTimeSec: 6.5, cpuTimeSec: 6, maxRssKB: 640_000 };
  return job(1, {
    attempt: 2,
    pilotId: 'p-bbbbbbbbbb',
    host: 'wn02',
    resources: { memoryMB: 800 },
    firstEvent: 10,
    nEvents: 10,
    usage,
    outputs,
    log,
    startedAt: '2026-11-25T10:00:20.000Z',
    endedAt: '2026-11-25T10:00:26.500Z',
    attempts: [
      first,
      {
        ...first,
        attempt: 2,
        pilotId: 'p-bbbbbbbbbb',
        host: 'wn02',
        state: 'finished',
        startedAt: '2026-11-25T10:00:20.000Z',
        endedAt: '2026-11-25T10:00:26.500Z',
        pilotErrorCode: 0,
        exitCode: 0,
        signal: undefined,
        errorMessage: undefined,
        usage,
        resources: { memoryMB: 800 },
        outputs,
        log,
      },
    ],
  });
}

describe.concurrent('gluon job', () => {
  it('shows a retried job: where it ran, its outputs and log, and both attempts with the code that made it retry', () =>
    withApi(async (api) => {
      api.jobs = [job(0), retriedJob()];
      const run = await gluon(api, ['job', TASK_ID, '1']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(api.calls('getJob').map((r) => r.path)).toEqual([`/tasks/${TASK_ID}/jobs/1`]);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines.slice(0, 6)).toEqual([
        `Job 1 of task ${TASK_ID}: finished`,
        '  attempt:    2 (after 1 earlier attempt)',
        '  site:       local',
        '  pilot:      p-bbbbbbbbbb',
        '  host:       wn02',
        '  resources:  memory 800 MB (raised for retries)',
      ]);
      expect(run.stdout).toContain('  exit code:  0\n  error code: 0 (success)\n');
      expect(run.stdout).toMatch(
        new RegExp(`^    tasks/${TASK_ID}/jobs/1/attempt-2/histogram\\.json\\s+900\\s+0a1b2c3d$`, 'm'),
      );
      expect(run.stdout).toContain(
        `  log:        tasks/${TASK_ID}/jobs/1/attempt-2/attempt.log (1024 bytes)\n`,
      );
      const table = lines.slice(lines.indexOf('Attempts:') + 1);
      expect(table[0]).toMatch(
        /^ATTEMPT\s+STATE\s+SITE\s+PILOT \/ HOST\s+STARTED\s+ENDED\s+WALL S\s+EXIT\s+ERROR\s+MESSAGE$/,
      );
      expect(table[1]).toMatch(
        new RegExp(
          `^1\\s+failed\\s+local\\s+${PILOT_ID} / wn01\\s+2026-11-25 10:00:10\\s+2026-11-25 10:00:14\\s+4\\.0\\s+137\\s+1102\\s+RSS 612 MB over the 500 MB asked for$`,
        ),
      );
      expect(table[2]).toMatch(
        /^2\s+finished\s+local\s+p-bbbbbbbbbb \/ wn02\s+2026-11-25 10:00:20\s+2026-11-25 10:00:26\s+6\.5\s+0\s+-$/,
      );
      expect(table.slice(3)).toEqual([
        '  1102: payload exceeded its memory limit and was killed',
        'Logs:',
        `  attempt 1: tasks/${TASK_ID}/jobs/1/attempt-1/attempt.log`,
        `  attempt 2: tasks/${TASK_ID}/jobs/1/attempt-2/attempt.log`,
      ]);
    }));

  it('prints the job as the API answers it with --json, attempts included', () =>
    withApi(async (api) => {
      api.jobs = [job(0), retriedJob()];
      const run = await gluon(api, ['job', TASK_ID, '1', '--json']);
      expect(run.code).toBe(0);
      const printed = JSON.parse(run.stdout) as JobView;
      expect(printed).toEqual(JSON.parse(JSON.stringify(retriedJob())));
      expect(printed.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
        [1, 'failed', 1102],
        [2, 'finished', 0],
      ]);
    }));

  it('refuses an index that is not a whole number ≥ 0, naming the argument, exit 2, and asks nothing', () =>
    withApi(async (api) => {
      const runs = await Promise.all(['-1', '1.5', 'first'].map((bad) => gluon(api, ['job', TASK_ID, bad])));
      for (const [i, bad] of ['-1', '1.5', 'first'].entries()) {
        expect(runs[i]?.code, bad).toBe(2);
        expect(runs[i]?.stderr, bad).toContain(
          `error: command-argument value '${bad}' is invalid for argument 'index'. expected a job index, a whole number ≥ 0.`,
        );
      }
      const task = await gluon(api, ['job', 'job-1', '0']);
      expect(task.code).toBe(2);
      expect(task.stderr).toBe('error: "job-1" is not a task id (task ids look like t-01jd3k…)\n');
      expect(api.requests).toHaveLength(0);
    }));

  it('says when the job or its task does not exist, exit 1', () =>
    withApi(async (api) => {
      const job7 = await gluon(api, ['job', TASK_ID, '7']);
      expect(job7.code).toBe(1);
      expect(job7.stdout).toBe('');
      expect(job7.stderr).toBe(`error: job ${TASK_ID}.7 not found (HTTP 404 NOT_FOUND)\n`);
      const task = await gluon(api, ['job', 't-doesnotexist', '0', '--json']);
      expect(task.code).toBe(1);
      expect(task.stdout).toBe('');
      expect(task.stderr).toBe('error: task t-doesnotexist not found (HTTP 404 NOT_FOUND)\n');
    }));
});

describe('gluon job against the real get-job handler', () => {
  let h: HandlerHarness;
  let server: ApiServer;
  let token: string;
  let taskId: string;
  let pilotId: string;

  beforeAll(async () => {
    h = await createHandlerHarness();
    const auth = await createLocalAuth({ stateDir: join(dir, 'auth') });
    token = await auth.userToken();
    server = await startApiServer({
      port: 0,
      handlers: { 'get-job': getJobHandler(h.deps) },
      auth,
      log: () => {},
    });
    pilotId = await registerPilot(h);
    // Job 0 fails (payload exit 3), is retried and finishes; the change feed archives attempt 1.
    const running = await runningTask(h, generationSpec(2, { maxAttempts: 3 }), LOCAL_USER_SUB);
    taskId = running.taskId;
    const first = refOf(nth(running.messages, 0));
    await runAttempt(h, pilotId, first, FAILED);
    await h.settleJobChanges();
    await runAttempt(h, pilotId, { ...first, attempt: 2 });
    await h.settleJobChanges();
  });

  afterAll(async () => {
    await server?.stop();
    await h?.close();
  });

  it('shows both attempts of a retried job as the API records them', async () => {
    const env = { GLUON_API_URL: server.url, GLUON_TOKEN: token };
    const run = await gluon(server, ['job', taskId, '0'], { auth: false, env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `Job 0 of task ${taskId}: finished`,
      '  attempt:    2 (after 1 earlier attempt)',
      `  site:       ${TEST_SITE}`,
      `  pilot:      ${pilotId}`,
      '  host:       wn01.test',
    ]);
    const second = report({ taskId, jobIndex: 0, attempt: 2 });
    expect(run.stdout).toContain(`  log:        ${second.log?.key} (321 bytes)\n`);
    expect(run.stdout).toMatch(new RegExp(`^    ${second.outputs?.[0]?.key}\\s+1234\\s+0a1b2c3d$`, 'm'));
    const table = lines.slice(lines.indexOf('Attempts:') + 1);
    expect(table[1]).toMatch(
      new RegExp(
        `^1\\s+failed\\s+${TEST_SITE}\\s+${pilotId} / wn01\\.test\\s+.+\\s+12\\.5\\s+3\\s+1001\\s+exit 3$`,
      ),
    );
    expect(table[2]).toMatch(
      new RegExp(`^2\\s+finished\\s+${TEST_SITE}\\s+${pilotId} / wn01\\.test\\s+.+\\s+0\\s+-$`),
    );
    expect(table[3]).toBe(`  ${PILOT_ERROR_CODES.PAYLOAD_FAILED}: payload exited with a non-zero code`);

    const json = await gluon(server, ['job', taskId, '0', '--json'], { auth: false, env });
    expect(json.code).toBe(0);
    const printed = JSON.parse(json.stdout) as JobView;
    expect(printed.attempts?.map((a) => [a.attempt, a.state, a.exitCode])).toEqual([
      [1, 'failed', 3],
      [2, 'finished', 0],
    ]);

    const past = await gluon(server, ['job', taskId, '2'], { auth: false, env });
    expect(past.code).toBe(1);
    expect(past.stderr).toBe(`error: job ${taskId}.2 not found (HTTP 404 NOT_FOUND)\n`);
  });
});

describe.concurrent('gluon pilots, sites, why, cancel', () => {
  it('lists pilots with their lease as JSON', () =>
    withApi(async (api) => {
      api.pilots = [
        pilotView(),
        pilotView({ pilotId: 'p-bbbbbbbbbb' }),
        pilotView({ pilotId: 'p-cccccccccc' }),
      ];
      const run = await gluon(api, ['pilots', '--json']);
      expect(run.code).toBe(0);
      const pilots = JSON.parse(run.stdout) as PilotView[];
      expect(pilots.map((p) => p.pilotId)).toEqual([PILOT_ID, 'p-bbbbbbbbbb', 'p-cccccccccc']);
      expect(pilots[0]).toEqual(pilotView());
      expect(api.calls('listPilots')).toHaveLength(2);
    }));

  it('shows when each pilot last renewed its lease', () =>
    withApi(async (api) => {
      // Made when the API answers: the CLI shows the age of the last heartbeat at that moment.
      api.pilots = () => {
        const now = Date.now();
        return [
          pilotView({
            jobsRun: 3,
            lease: {
              state: 'busy',
              expiresAt: new Date(now + 30_000).toISOString(),
              beatAt: new Date(now - 30_000).toISOString(),
              jobs: [`${TASK_ID}.1.1`],
            },
          }),
          pilotView({
            pilotId: 'p-gonegonego',
            state: 'exited',
            jobsRun: 7,
            endedAt: new Date(now - 600_000).toISOString(),
            lease: undefined,
          }),
        ];
      };
      const run = await gluon(api, ['pilots']);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^ID\s+SITE\s+HOST\s+PID\s+STATE\s+JOBS RUN\s+LAST HEARTBEAT$/);
      expect(lines[1]).toMatch(
        new RegExp(`^${PILOT_ID}\\s+local\\s+node1\\s+4242\\s+busy\\s+3\\s+3[01]s ago$`),
      );
      expect(lines[2]).toMatch(/^p-gonegonego\s+local\s+node1\s+4242\s+exited\s+7\s+10m ago$/);
    }));

  it('lists sites with their slot, cap and tags', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['sites']);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(
        /^SITE\s+KIND\s+STATUS\s+CORES\s+MEMORY MB\s+WALLTIME S\s+DISK MB\s+MAX PILOTS\s+TAGS\s+REASON$/,
      );
      expect(lines[1]).toMatch(/^local\s+local\s+online\s+8\s+16000\s+86400\s+50000\s+4\s+local,fast\s+-$/);
      const json = await gluon(api, ['sites', '--json']);
      expect((JSON.parse(json.stdout) as SiteView[]).map((s) => s.siteId)).toEqual(['local']);
    }));

  it("lists a cloud site's last provisioning decision under the table", () =>
    withApi(async (api) => {
      api.sites = [
        siteView(),
        siteView({
          siteId: 'cloud-a',
          kind: 'cloud',
          provisioned: {
            siteId: 'cloud-a',
            at: '2026-12-02T14:00:00.000Z',
            type: 'ec2',
            queuedJobs: 10,
            pilotsWanted: 10,
            pending: 3,
            running: 0,
            slots: 8,
            hourlyUsd: 0.458,
            requested: [{ market: 'spot', count: 3, slots: 6, hourlyUsd: 0.3 }],
            started: 3,
            limitedBy: 'maxInstances',
            prices: {},
            errors: [],
            summary: 'Asked for 6 slots spot of 10 wanted, started 3 instances: held back by maxInstances 3.',
          },
        }),
      ];
      const run = await gluon(api, ['sites']);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines.at(-1)).toMatch(
        /^cloud-a at .*: 3 instances \(3 pending, 0 running; 8 slots, \$0\.458\/h\); Asked for 6 slots spot of 10 wanted, started 3 instances: held back by maxInstances 3\.$/,
      );
    }));

  it('defines a site with only the options given, and prints its queue', () =>
    withApi(async (api) => {
      const run = await gluon(api, [
        'site-put',
        'grid-b',
        '--kind',
        'grid',
        '--cores',
        '8',
        '--memory-mb',
        '16000',
        '--max-pilots',
        '20',
        '--tag',
        'cvmfs',
        'el9',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`site grid-b is online; job queue ${api.url}/000000000000/gluon-site-grid-b\n`);
      const [put] = api.calls('putSite');
      expect(put?.path).toBe('/sites/grid-b');
      expect(JSON.parse(put?.body.toString() ?? '{}')).toEqual({
        kind: 'grid',
        slot: { cores: 8, memoryMB: 16000 },
        maxPilots: 20,
        tags: ['cvmfs', 'el9'],
      });
    }));

  it('lists each site with why it has its status, and who set it', () =>
    withApi(async (api) => {
      api.sites = [
        siteView({ siteId: 'grid-a', status: 'test', statusChange: siteDetail(siteView()).statusChange }),
        siteView({
          siteId: 'grid-b',
          status: 'offline',
          statusChange: {
            at: '2026-11-25T09:00:00.000Z',
            from: 'online',
            to: 'offline',
            reason: 'downtime',
            by: 'operator:ops',
          },
        }),
      ];
      const lines = (await gluon(api, ['sites'])).stdout.trim().split('\n');
      expect(lines[1]).toMatch(
        /^grid-a\s.*\stest\s.*\ssite-health: 6 of 7 recent attempts failed for infrastructure reasons \(stage-in 6\)/,
      );
      expect(lines[2]).toMatch(/^grid-b\s.*\soffline\s.*\soperator:ops: downtime$/);
    }));

  it('shows one site: why it is in test, its recent outcomes and its test task', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['site', 'local']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout.trimEnd().split('\n')).toEqual([
        'Site local: test since 2026-11-25 10:05:00',
        '  why:       site-health: 6 of 7 recent attempts failed for infrastructure reasons (stage-in 6) in the last 60 min: above 50%',
        '  slot:      8 cores, 16000 MB, 86400 s, 50000 MB disk; at most 4 pilots',
        '  pilots:    3 live (0 starting, 1 idle, 2 busy, 0 draining) at 2026-11-25 10:00:30; can run score 3, mcore 3, himem 1, gpu 0',
        '  outcomes:  since 2026-11-25 10:05:00: 3 attempts, 0 finished, 0 user failures, 3 infrastructure failures (stage-in 2, node checks 1)',
        '  test task: t-test000001 sent 2026-11-25 10:05:00, failed; 1 failed in a row; next test at 2026-11-25 10:11:00',
      ]);
    }));

  it('prints the status history of a site, and answers 1 for an unknown site and 2 for a bad id', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['site', 'local', '--history']);
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^TIME\s+FROM\s+TO\s+BY\s+REASON$/);
      expect(lines[1]).toMatch(/^2026-11-25 09:00:00\s+-\s+online\s+operator:ops\s+site defined$/);
      expect(lines[2]).toMatch(/^2026-11-25 10:05:00\s+online\s+test\s+site-health\s+6 of 7 recent attempts/);
      const json = await gluon(api, ['site', 'local', '--history', '--json']);
      expect((JSON.parse(json.stdout) as unknown[]).length).toBe(2);

      const unknown = await gluon(api, ['site', 'nowhere']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('site nowhere does not exist');
      const bad = await gluon(api, ['site', 'Not_A_Site']);
      expect(bad.code).toBe(2);
      expect(api.calls('getSite')).toHaveLength(3);
    }));

  it('sets a status with its reason, and reads a definition file that options override', () =>
    withApi(async (api) => {
      const file = join(dir, 'grid-c.yaml');
      await writeFile(
        file,
        'kind: grid\nslot: { cores: 4, memoryMB: 8000 }\nhealth: { maxInfraFailureFraction: 0.3 }\n' +
          'test: { jobs: 1, payload: { command: "true" } }\n',
      );
      const run = await gluon(api, [
        'site-put',
        'grid-c',
        '--file',
        file,
        '--cores',
        '8',
        '--status',
        'offline',
        '--reason',
        'downtime',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const [put] = api.calls('putSite');
      expect(JSON.parse(put?.body.toString() ?? '{}')).toEqual({
        kind: 'grid',
        slot: { cores: 8, memoryMB: 8000 },
        health: { maxInfraFailureFraction: 0.3 },
        test: { jobs: 1, payload: { command: 'true' } },
        status: 'offline',
        reason: 'downtime',
      });

      await writeFile(file, 'test: { jobs: 0 }\nowner: me\n');
      const bad = await gluon(api, ['site-put', 'grid-c', '--file', file]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('test.jobs');
      expect(bad.stderr).toContain('owner');
      expect(api.calls('putSite')).toHaveLength(1);
    }));

  it('explains what holds a task back, site by site', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['why', TASK_ID]);
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines.slice(0, 3)).toEqual([
        `Task ${TASK_ID}: running`,
        '  - 1 job waits in the queue of site local.',
        '  - Site grid-a is offline.',
      ]);
      expect(lines[4]).toMatch(/^SITE\s+USED\s+WEIGHT\s+STATUS\s+.*REJECTED BY$/);
      expect(lines[5]).toMatch(/^grid-a\s+no\s+-\s+-\s+-\s+-\s+-\s+status: site is offline$/);
      expect(lines[6]).toMatch(/^local\s+yes\s+62.5%\s+online\s+1\s+0\/2\/1\s+4$/);
      expect(api.calls('explainTask')).toHaveLength(1);
    }));

  it('explains one job with --job: where it was sent and why, in words', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['why', TASK_ID, '--job', '7']);
      expect(run.code).toBe(0);
      expect(run.stdout.trimEnd().split('\n')).toEqual([
        `Job 7 of task ${TASK_ID}: queued, attempt 2 at local`,
        '  - Job 7 is queued (attempt 2).',
        "  - Job 7 was sent to site local: local gets 62.5% of the task's jobs.",
        '  - All 2 pilots at local are busy (cap 4).',
      ]);
      const [call] = api.calls('explainJob');
      expect(call?.path).toBe(`/tasks/${TASK_ID}/jobs/7/why`);
      const json = await gluon(api, ['why', TASK_ID, '--job', '7', '--json']);
      expect(JSON.parse(json.stdout).findings.map((f: { code: string }) => f.code)).toEqual([
        'state',
        'sent-to',
        'pilots-busy',
      ]);
    }));

  it('refuses a --job that is not a job index, asking nothing of the API', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['why', TASK_ID, '--job', 'last']);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/job index/);
      expect(api.requests).toHaveLength(0);
    }));

  it('cancels a task and says what the API answered', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['cancel', TASK_ID]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`cancel requested for task ${TASK_ID} (task state: running)\n`);
      const [cancel] = api.calls('cancelTask');
      expect(cancel?.method).toBe('POST');
      expect(cancel?.path).toBe(`/tasks/${TASK_ID}/cancel`);
    }));
});

describe.concurrent('gluon resubmit', () => {
  it('sends the chosen jobs, resources and sites, and says where the jobs go', () =>
    withApi(async (api) => {
      const run = await gluon(api, [
        'resubmit',
        TASK_ID,
        '--jobs',
        '3,7-9',
        '--memory-mb',
        '4000',
        '--walltime-sec',
        '7200',
        '--sites',
        'local,grid-a',
      ]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(
        `task ${TASK_ID}: 4 jobs resubmitted to grid-a, local; the task is running again (gluon status ${TASK_ID} --watch)\n`,
      );
      const [call] = api.calls('resubmitTask');
      expect(call?.path).toBe(`/tasks/${TASK_ID}/resubmit`);
      expect(JSON.parse(call?.body.toString() ?? '{}')).toEqual({
        jobs: '3,7-9',
        memoryMB: 4000,
        walltimeSec: 7200,
        sites: ['local', 'grid-a'],
      });
    }));

  it('resubmits the failed jobs by default and reports those resubmitted before', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['resubmit', TASK_ID]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('2 jobs resubmitted to grid-a, local; 1 already resubmitted before');
      expect(JSON.parse(api.calls('resubmitTask')[0]?.body.toString() ?? '')).toEqual({});
    }));

  it.each([
    [['--jobs', '3,x'], '--jobs'],
    [['--jobs', '3', '--state', 'failed'], 'cannot be used with'],
    [['--state', 'finished'], '--state'],
    [['--memory-mb', '0'], '--memory-mb'],
  ])('refuses %j before asking the API, exit 2', (args, named) =>
    withApi(async (api) => {
      const run = await gluon(api, ['resubmit', TASK_ID, ...args]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(named);
      expect(api.calls('resubmitTask')).toEqual([]);
    }),
  );
});

describe.concurrent('configuration and failures', () => {
  it('uses GLUON_API_URL and GLUON_TOKEN', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['pilots', '--json'], {
        auth: false,
        env: { GLUON_API_URL: api.url, GLUON_TOKEN: TOKEN },
      });
      expect(run.code).toBe(0);
      expect(api.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    }));

  it('uses the local.json in the directory GLUON_HOME names', () =>
    withApi(async (api) => {
      const home = join(dir, 'home');
      mkdirSync(home, { recursive: true });
      writeFileSync(join(home, 'local.json'), JSON.stringify({ apiUrl: api.url, token: TOKEN }));
      const run = await gluon(api, ['tasks', '--json'], { auth: false, env: { GLUON_HOME: home } });
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toHaveLength(1);
    }));

  it('tells the user to start the stack when nothing is configured, exit 2', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['tasks'], { auth: false });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('npm start');
      expect(api.requests).toHaveLength(0);
    }));

  it('explains a refused token, whatever the command', () =>
    withApi(async (api) => {
      const commands = [['tasks'], ['pilots'], ['sites']];
      const runs = await Promise.all(
        commands.map((args) =>
          gluon(api, args, { auth: false, env: { GLUON_API_URL: api.url, GLUON_TOKEN: 'wrong' } }),
        ),
      );
      for (const [i, run] of runs.entries()) {
        const args = commands[i] as string[];
        expect(run.code, args[0]).toBe(1);
        expect(run.stderr, args[0]).toMatch(
          /^error: token expired \(HTTP 401 UNAUTHORIZED\) \(the token was refused: restart `npm start`/,
        );
      }
    }));

  it('says the API cannot be reached when no connection holds, whatever the command', () =>
    withApi(async (api) => {
      const gone = await droppingServer();
      const url = gone.url;
      const commands = [['status', TASK_ID], ['pilots'], ['submit', join(repo, 'examples/zmumu/task.yaml')]];
      const runs = await Promise.all(
        commands.map((args) =>
          gluon(api, args, { auth: false, env: { GLUON_API_URL: url, GLUON_TOKEN: TOKEN } }),
        ),
      ).finally(() => gone.close());
      for (const [i, run] of runs.entries()) {
        const args = commands[i] as string[];
        expect(run.code, args[0]).toBe(1);
        expect(run.stderr.trim(), args[0]).toBe(
          `error: cannot reach the Gluon API at ${url} (is \`npm start\` running?)`,
        );
      }
    }));

  it('reports an answer that does not match the API, naming the field, exit 1', () =>
    withApi(async (api) => {
      const { counts: _counts, ...withoutCounts } = taskView();
      api.raw.set('getTask', { status: 200, body: withoutCounts });
      const run = await gluon(api, ['status', TASK_ID]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('GET /tasks/{taskId}: the answer does not match the API (counts:');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }));

  it('runs through the bin shim', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['pilots', '--json'], { script: join(repo, 'bin/gluon.mjs') });
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toHaveLength(1);
    }));
});
