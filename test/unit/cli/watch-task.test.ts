import { describe, expect, it } from 'vitest';
import { ApiClient } from '#cli/api-client.ts';
import { watchTask } from '#cli/commands/status.ts';
import type { TaskView } from '#core/api/contract.ts';
import { emptyJobCounts } from '#core/tasks/task.ts';

function view(state: TaskView['state'], finished: number): TaskView {
  return {
    taskId: 't-abcdefgh',
    name: 'demo',
    owner: 'alice',
    state,
    jobCount: 2,
    jobsEnqueued: 2,
    counts: { ...emptyJobCounts(), finished, queued: 2 - finished },
    siteIds: [],
    cancelRequested: false,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:00.000Z',
    spec: {} as TaskView['spec'],
    history: [],
  };
}

/** A client whose fetch plays a script: a view to answer, or an error to throw. */
function scripted(steps: Array<TaskView | Error>): { client: ApiClient; calls: () => number } {
  let i = 0;
  const fetch: typeof globalThis.fetch = (async () => {
    const step = steps[Math.min(i, steps.length - 1)];
    i += 1;
    if (step instanceof Error) throw step;
    return new Response(JSON.stringify(step), { status: 200 });
  }) as typeof globalThis.fetch;
  return { client: new ApiClient({ apiUrl: 'http://127.0.0.1:1', token: 't', fetch }), calls: () => i };
}

describe('watchTask', () => {
  it('reports the first view and each change, and returns the final view', async () => {
    const { client, calls } = scripted([
      view('running', 0),
      view('running', 0),
      view('running', 1),
      view('done', 2),
    ]);
    const seen: Array<[string, number]> = [];
    const final = await watchTask(client, 't-abcdefgh', {
      intervalMs: 1,
      onUpdate: (task) => seen.push([task.state, task.counts.finished]),
    });
    expect(final.state).toBe('done');
    expect(seen).toEqual([
      ['running', 0],
      ['running', 1],
      ['done', 2],
    ]);
    expect(calls()).toBe(4);
  });

  it('rides out a short outage of the API', async () => {
    const { client } = scripted([view('running', 0), new TypeError('fetch failed'), view('failed', 0)]);
    const final = await watchTask(client, 't-abcdefgh', { intervalMs: 1 });
    expect(final.state).toBe('failed');
  });

  it('gives up after too many failures in a row', async () => {
    const { client, calls } = scripted([new TypeError('fetch failed')]);
    await expect(watchTask(client, 't-abcdefgh', { intervalMs: 1, maxConsecutiveErrors: 3 })).rejects.toThrow(
      /cannot reach the Gluon API/,
    );
    expect(calls()).toBe(3);
  });

  it('stops at once on a 404', async () => {
    let calls = 0;
    const fetch: typeof globalThis.fetch = (async () => {
      calls += 1;
      return new Response('{"error":{"code":"NOT_FOUND","message":"task t-abcdefgh not found"}}', {
        status: 404,
      });
    }) as typeof globalThis.fetch;
    const client = new ApiClient({ apiUrl: 'http://127.0.0.1:1', token: 't', fetch });
    await expect(watchTask(client, 't-abcdefgh', { intervalMs: 1 })).rejects.toThrow(
      'task t-abcdefgh not found',
    );
    expect(calls).toBe(1);
  });
});
