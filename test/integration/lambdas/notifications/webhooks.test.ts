import { describe, expect, it } from 'vitest';
import { OPERATIONS } from '#core/api/operations.ts';
import { createHandler as addHandler } from '#lambdas/notifications/add-webhook/handler.ts';
import { createHandler as listHandler } from '#lambdas/notifications/list-webhooks/handler.ts';
import { createHandler as removeHandler } from '#lambdas/notifications/remove-webhook/handler.ts';
import { httpEvent, invokeHttp, issueFields } from '#test/support/handler-harness.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';

const add = OPERATIONS.addWebhook;
const scopes = ['compute.create', 'compute.read'];

function addEvent(body: unknown, sub = 'alice') {
  return httpEvent({ method: add.method, path: add.path, body, scopes, sub });
}

describe('POST /notifications/webhooks', () => {
  it.each([
    // allowHttpLoopback (the deployment's configuration), url, status
    [false, 'http://127.0.0.1:9000/hook', 400],
    [false, 'http://hooks.example.org/hook', 400],
    [true, 'http://hooks.example.org/hook', 400],
    [true, 'http://127.0.0.1:9000/hook', 201],
    [false, 'https://hooks.example.org/hook', 201],
  ] as const)('with http to loopback allowed=%s, %s → %i', async (allowHttpLoopback, url, status) => {
    const deps = inMemoryDeps();
    deps.notifications.allowHttpLoopback = allowHttpLoopback;
    const reply = await invokeHttp(addHandler(deps), addEvent({ url }));
    expect(reply.statusCode).toBe(status);
    if (status === 400) {
      expect(issueFields(reply.body)).toEqual(['url']);
      expect(await deps.webhooks.list('alice')).toEqual([]);
    } else {
      expect(reply.body).toMatchObject({ url, events: ['done', 'failed', 'partial', 'cancelled'] });
      expect((reply.body as { secret: string }).secret.length).toBeGreaterThanOrEqual(32);
    }
  });

  it('refuses unknown task ends, naming the field', async () => {
    const reply = await invokeHttp(
      addHandler(inMemoryDeps()),
      addEvent({ url: 'https://hooks.example.org/x', events: ['finished'] }),
    );
    expect(reply.statusCode).toBe(400);
    expect(issueFields(reply.body)).toEqual(['events.0']);
  });
});

describe('GET and DELETE /notifications/webhooks', () => {
  it("lists the caller's webhooks without secrets; another user's id is not found", async () => {
    const deps = inMemoryDeps();
    const added = await invokeHttp<{ webhookId: string }>(
      addHandler(deps),
      addEvent({ url: 'https://h.example.org/' }),
    );
    const listed = await invokeHttp<{ items: Array<Record<string, unknown>> }>(
      listHandler(deps),
      httpEvent({ method: 'GET', path: OPERATIONS.listWebhooks.path, scopes, sub: 'alice' }),
    );
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).not.toHaveProperty('secret');
    expect(listed.body.items[0]).toMatchObject({ webhookId: added.body.webhookId, deliveries: [] });

    const remove = (sub: string) =>
      invokeHttp(
        removeHandler(deps),
        httpEvent({
          method: 'DELETE',
          path: OPERATIONS.removeWebhook.path,
          pathParameters: { webhookId: added.body.webhookId },
          scopes,
          sub,
        }),
      );
    expect((await remove('bob')).statusCode).toBe(404);
    expect((await remove('alice')).statusCode).toBe(200);
    expect((await remove('alice')).statusCode).toBe(404);
  });
});
