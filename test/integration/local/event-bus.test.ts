import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeEventBus } from '#adapters/eventbridge/eventbridge-event-bus.ts';
import type { TaskEvent } from '#core/notifications/task-event.ts';
import { EVENT_FUNCTIONS } from '#lambdas/routes.ts';
import { type LocalEventBus, matchesPattern, startLocalEventBus } from '#local/event-bus.ts';
import { waitFor } from '#test/support/e2e.ts';

function taskEvent(to: TaskEvent['detail']['to']): TaskEvent {
  return {
    source: 'gluon',
    detailType: 'Task State Change',
    detail: {
      taskId: 't-000001',
      owner: 'alice',
      name: 'zmumu',
      from: 'running',
      to,
      counts: { defined: 0, queued: 0, running: 0, finished: 1, failed: 0, cancelled: 0 },
      at: '2026-01-01T00:00:00.000Z',
    },
  };
}

describe('matchesPattern', () => {
  const pattern = EVENT_FUNCTIONS[0].pattern;
  it.each([
    [{ source: 'gluon', 'detail-type': 'Task State Change', detail: { to: 'done' } }, true],
    [{ source: 'gluon', 'detail-type': 'Task State Change', detail: { to: 'running' } }, false],
    [{ source: 'other', 'detail-type': 'Task State Change', detail: { to: 'done' } }, false],
    [{ source: 'gluon', 'detail-type': 'Task State Change' }, false],
  ])('%j → %s', (event, matches) => {
    expect(matchesPattern(pattern, event)).toBe(matches);
  });
});

describe('the local event bus', () => {
  let bus: LocalEventBus;
  const received: unknown[] = [];
  beforeAll(async () => {
    bus = await startLocalEventBus({ port: 0, rules: EVENT_FUNCTIONS, log: () => undefined });
    bus.attach({
      'deliver-webhooks': async (event: unknown) => {
        received.push(event);
      },
    });
  });
  afterAll(() => bus?.stop());

  it('takes PutEvents from the SDK and hands matching events to the rule target as EventBridge does', async () => {
    const client = new EventBridgeClient({
      endpoint: bus.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await new EventBridgeEventBus(client, 'gluon-local-task-events').publish([
      taskEvent('running'),
      taskEvent('done'),
    ]);
    await bus.idle();
    await waitFor(async () => received.length >= 1, { what: 'the event at its target', timeoutMs: 5000 });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      source: 'gluon',
      'detail-type': 'Task State Change',
      detail: taskEvent('done').detail,
    });
    client.destroy();
  });
});
