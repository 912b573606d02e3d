import { describe, expect, it } from 'vitest';
import { ApiClient } from '#cli/api-client.ts';
import { ApiError, ApiUnreachableError } from '#cli/cli-error.ts';
import type { CliIo } from '#cli/cli-io.ts';
import { runWatch, screenLines, watchTask } from '#cli/commands/status.ts';
import type { JobView, TaskView } from '#core/api/tasks.ts';
import { emptyJobCounts } from '#core/jobs/job-counts.ts';

const TASK_ID = 't-abcdefgh';

function view(state: TaskView['state'], finished: number, partial: Partial<TaskView> = {}): TaskView {
  return {
    taskId: TASK_ID,
    name: 'demo',
    owner: 'alice',
    state,
    jobCount: 2,
    jobsEnqueued: 2,
    counts: { ...emptyJobCounts(), finished, queued: 2 - finished },
    siteIds: ['local'],
    cancelRequested: false,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:00.000Z',
    spec: {
      name: 'demo',
      payload: { command: 'true', args: [], env: {}, sandbox: [] },
      events: 2,
      split: { eventsPerJob: 1 },
      resources: { cores: 1, memoryMB: 100, walltimeSec: 60, diskMB: 10 },
      priority: 500,
      maxAttempts: 3,
      retry: { memoryFactor: 1.5, walltimeFactor: 1.5 },
      outputs: [],
      sites: { deny: [] },
    },
    history: [],
    ...partial,
  };
}

function job(jobIndex: number, partial: Partial<JobView> = {}): JobView {
  return {
    jobId: `${TASK_ID}.${jobIndex}`,
    taskId: TASK_ID,
    jobIndex,
    state: 'finished',
    attempt: 1,
    pilotErrorCode: 0,
    usage: { wallTimeSec: 2, cpuTimeSec: 1, maxRssKB: 1024 },
    ...partial,
  };
}

type Step = TaskView | Error | Response;

/**
 * An API whose GET /tasks/{id} plays a script (a view to answer, an error to throw, a response to
 * send; the last step repeats) and whose GET /tasks/{id}/jobs lists `jobs` in one page.
 */
function scripted(
  steps: Step[],
  jobs: JobView[] | Error = [],
): { client: ApiClient; taskGets: () => number } {
  let i = 0;
  const fetch: typeof globalThis.fetch = (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    if (url.pathname.endsWith('/jobs')) {
      if (jobs instanceof Error) throw jobs;
      return new Response(JSON.stringify({ items: jobs }), { status: 200 });
    }
    const step = steps[Math.min(i, steps.length - 1)];
    i += 1;
    if (step instanceof Error) throw step;
    if (step instanceof Response) return step.clone();
    return new Response(JSON.stringify(step), { status: 200 });
  }) as typeof globalThis.fetch;
  return { client: new ApiClient({ apiUrl: 'http://127.0.0.1:1', token: 't', fetch }), taskGets: () => i };
}

function capture(options: { tty?: boolean; columns?: number } = {}): {
  io: CliIo;
  out: () => string;
  err: () => string;
} {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: {
      write: (t: string) => (out += t),
      ...(options.tty ? { isTTY: true } : {}),
      ...(options.columns === undefined ? {} : { columns: options.columns }),
    },
    stderr: { write: (t: string) => (err += t) },
    env: { NO_COLOR: '1' },
    cwd: '/',
  };
  return { io, out: () => out, err: () => err };
}

describe('watchTask', () => {
  it('reports the first view and each change, and returns the final view', async () => {
    const { client, taskGets } = scripted([
      view('running', 0),
      view('running', 0),
      view('running', 1),
      view('done', 2),
    ]);
    const seen: Array<[string, number, number | undefined]> = [];
    const final = await watchTask(client, TASK_ID, {
      intervalMs: 1,
      onUpdate: (task, previous) => seen.push([task.state, task.counts.finished, previous?.counts.finished]),
    });
    expect(final.state).toBe('done');
    expect(seen).toEqual([
      ['running', 0, undefined],
      ['running', 1, 0],
      ['done', 2, 1],
    ]);
    expect(taskGets()).toBe(4);
  });

  it('rides out an outage longer than the retries of one request', async () => {
    const down = new TypeError('fetch failed');
    // The client tries each request three times; the second poll fails all three.
    const { client, taskGets } = scripted([view('running', 0), down, down, down, view('failed', 0)]);
    const final = await watchTask(client, TASK_ID, { intervalMs: 1 });
    expect(final.state).toBe('failed');
    expect(taskGets()).toBe(5);
  });

  it('gives up after too many failed polls in a row', async () => {
    const { client, taskGets } = scripted([new TypeError('fetch failed')]);
    const error = await watchTask(client, TASK_ID, { intervalMs: 1, maxConsecutiveErrors: 2 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiUnreachableError);
    // Two polls, each tried three times by the client.
    expect(taskGets()).toBe(6);
  });

  it('stops at once on a 404', async () => {
    const notFound = new Response('{"error":{"code":"NOT_FOUND","message":"task t-abcdefgh not found"}}', {
      status: 404,
    });
    const { client, taskGets } = scripted([notFound]);
    const error = await watchTask(client, TASK_ID, { intervalMs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe('task t-abcdefgh not found (HTTP 404 NOT_FOUND)');
    expect(taskGets()).toBe(1);
  });

  it('stops when its signal aborts', async () => {
    const { client, taskGets } = scripted([view('running', 0)]);
    const stop = new AbortController();
    const watching = watchTask(client, TASK_ID, {
      intervalMs: 60_000,
      signal: stop.signal,
      onUpdate: () => stop.abort(),
    });
    await expect(watching).rejects.toMatchObject({ name: 'AbortError' });
    expect(taskGets()).toBe(1);
  });
});

describe('runWatch', () => {
  it('prints a line per change and a summary when not on a terminal, and returns 0 when done', async () => {
    const { client } = scripted([view('running', 0), view('running', 1), view('done', 2)], [job(0), job(1)]);
    const c = capture();
    expect(await runWatch(c.io, client, TASK_ID, { intervalSec: 0.001 })).toBe(0);
    const lines = c.out().split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d running {3}\[\.{30}\] {3}0% of 2 jobs$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d running {3}\[#{15}\.{15}\] {2}50% of 2 jobs$/);
    expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d done {6}\[#{30}\] 100% of 2 jobs$/);
    expect(lines.slice(3, 6)).toEqual(['', `Task ${TASK_ID} (demo): done`, '  jobs:     2 (finished 2)']);
    expect(c.out()).toContain('  attempts: 2 used (0 retries)');
    expect(c.out()).not.toContain('\u001b[');
  });

  it('prints one JSON line per change and no summary with json, and returns 1 unless done', async () => {
    const { client } = scripted([view('running', 0), view('partial', 1)], new Error('must not list jobs'));
    const c = capture();
    expect(await runWatch(c.io, client, TASK_ID, { json: true, intervalSec: 0.001 })).toBe(1);
    const lines = c.out().trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as TaskView).state)).toEqual(['running', 'partial']);
    expect(c.err()).toBe('');
  });

  it('redraws the status in place on a terminal', async () => {
    const { client } = scripted([view('running', 0), view('failed', 0)], []);
    const c = capture({ tty: true, columns: 80 });
    expect(await runWatch(c.io, client, TASK_ID, { intervalSec: 0.001 })).toBe(1);
    const [first = '', second = ''] = c.out().split('\u001b[4A\u001b[J');
    expect(first.split('\n').slice(0, 2)).toEqual([`demo  ${TASK_ID}`, 'state: running']);
    expect(second.split('\n').slice(0, 2)).toEqual([`demo  ${TASK_ID}`, 'state: failed']);
  });

  it('warns and still gives the exit code when the jobs cannot be listed for the summary', async () => {
    const { client } = scripted([view('done', 2)], new TypeError('fetch failed'));
    const c = capture();
    expect(await runWatch(c.io, client, TASK_ID, { intervalSec: 0.001 })).toBe(0);
    expect(c.err()).toMatch(
      /^warning: could not list the task's jobs for the summary: cannot reach the Gluon API/,
    );
  });

  it('says over how many jobs the summary was made when the task has more', async () => {
    const { client } = scripted([view('done', 2, { jobCount: 9000 })], [job(0), job(1)]);
    const c = capture();
    await runWatch(c.io, client, TASK_ID, { intervalSec: 0.001 });
    expect(c.out()).toContain('(attempts, usage and outputs over the first 2 of 9000 jobs)');
  });
});

describe('screenLines', () => {
  it('counts the rows a redrawn status takes, wrapped lines included, colours ignored', () => {
    expect(screenLines('a\nb\n', 80)).toBe(2);
    expect(screenLines(`${'x'.repeat(100)}\nshort\n`, 80)).toBe(3);
    expect(screenLines(`\u001b[32m${'x'.repeat(80)}\u001b[0m\n`, 80)).toBe(1);
    expect(screenLines('\n', undefined)).toBe(1);
  });
});
