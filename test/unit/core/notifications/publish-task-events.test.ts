import { describe, expect, it } from 'vitest';
import { publishTaskEvents } from '#core/notifications/publish-task-events.ts';
import { taskEventId } from '#core/notifications/task-event.ts';
import type { TaskHead } from '#core/tasks/task.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';

function head(state: TaskHead['state'], at: string): Partial<TaskHead> & { sk: string } {
  return {
    sk: 'task',
    taskId: 't-000001',
    owner: 'alice',
    name: 'zmumu',
    state,
    updatedAt: at,
    history: [
      { state: 'submitted', at: '2026-01-01T00:00:00.000Z' },
      { state, at },
    ],
  };
}

describe('publishTaskEvents', () => {
  it('publishes head state changes only, in feed order, with their ids stable', async () => {
    const deps = inMemoryDeps();
    const changes = [
      { after: head('submitted', '2026-01-01T00:00:00.000Z') },
      {
        before: head('submitted', '2026-01-01T00:00:00.000Z'),
        after: head('splitting', '2026-01-01T00:00:01.000Z'),
      },
      // A flag on the head: no state change.
      {
        before: head('running', '2026-01-01T00:00:02.000Z'),
        after: head('running', '2026-01-01T00:00:02.000Z'),
      },
      // A counter item.
      { before: { sk: 'counts#s1', taskId: 't-000001' }, after: { sk: 'counts#s1', taskId: 't-000001' } },
      {
        before: head('running', '2026-01-01T00:00:02.000Z'),
        after: head('done', '2026-01-01T00:00:09.000Z'),
      },
    ];
    expect(await publishTaskEvents(deps, changes)).toEqual({ published: 2 });
    expect(
      deps.events.published.map((e) => [e.source, e.detailType, e.detail.from, e.detail.to, e.detail.at]),
    ).toEqual([
      ['gluon', 'Task State Change', 'submitted', 'splitting', '2026-01-01T00:00:01.000Z'],
      ['gluon', 'Task State Change', 'running', 'done', '2026-01-01T00:00:09.000Z'],
    ]);
    const end = deps.events.published[1]?.detail;
    expect(end).toMatchObject({ taskId: 't-000001', owner: 'alice', name: 'zmumu' });
    expect(end?.counts).toEqual({ defined: 0, queued: 0, running: 0, finished: 0, failed: 0, cancelled: 0 });
    expect(taskEventId(end ?? { at: '', taskId: '', to: 'done' })).toBe(
      '2026-01-01T00:00:09.000Z/t-000001/done',
    );
  });

  it('throws when the bus refuses, so the batch comes again', async () => {
    const deps = inMemoryDeps();
    deps.events.failWith = new Error('bus down');
    await expect(
      publishTaskEvents(deps, [
        {
          before: head('running', '2026-01-01T00:00:02.000Z'),
          after: head('failed', '2026-01-01T00:00:03.000Z'),
        },
      ]),
    ).rejects.toThrow('bus down');
  });
});
