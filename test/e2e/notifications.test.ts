import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/index.ts';
import type { LocalStack } from '#local/stack.ts';
import { freePort } from '#local/stand-ins.ts';
import { Api, shellTask, startTestStack, tempStateDir, waitFor } from '#test/support/e2e.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1: records every POST; answers `status` (200 unless told otherwise). */
class Receiver {
  readonly received: Received[] = [];
  status = 200;
  private server: Server | undefined;

  async listen(port = 0): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server === undefined ? resolve() : this.server.close(() => resolve()),
    );
  }
}

let stack: LocalStack;
let api: Api;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startTestStack('notifications', { pilots: 2, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.stop();
});

async function receiver(port?: number): Promise<{ receiver: Receiver; url: string }> {
  const r = new Receiver();
  receivers.push(r);
  const bound = await r.listen(port);
  return { receiver: r, url: `http://127.0.0.1:${bound}/hook` };
}

async function addWebhook(client: Api, url: string): Promise<{ webhookId: string; secret: string }> {
  const answer = await client.post<{ webhookId: string; secret: string }>('/notifications/webhooks', { url });
  expect(answer.status).toBe(201);
  return answer.body;
}

/** Checks a POST as a receiver should: the HMAC over the raw body with the secret, and the event id. */
function verified(
  r: Received,
  secret: string,
): { id: string; detail: { taskId: string; to: string; owner: string } } {
  const expected = `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
  expect(r.headers['x-gluon-signature']).toBe(expected);
  expect(Number(r.headers['x-gluon-timestamp'])).toBeGreaterThan(1_700_000_000);
  const event = JSON.parse(r.body) as { id: string; detail: { taskId: string; to: string; owner: string } };
  expect(r.headers['x-gluon-event-id']).toBe(event.id);
  return event;
}

type Deliveries = Array<{ taskId: string; status: string; attempts: number; lastError?: string }>;

async function deliveriesOf(client: Api, webhookId: string): Promise<Deliveries> {
  const list = await client.get<{ items: Array<{ webhookId: string; deliveries: Deliveries }> }>(
    '/notifications/webhooks',
  );
  return list.body.items.find((w) => w.webhookId === webhookId)?.deliveries ?? [];
}

describe('webhooks', { timeout: 600_000 }, () => {
  it("gets exactly one signed event per task end, and nothing of another user's tasks", async () => {
    const { receiver: mine, url } = await receiver();
    const { webhookId, secret } = await addWebhook(api, url);
    const mallory = new Api(
      stack.apiUrl,
      await stack.mintToken({ sub: 'mallory', scopes: ['compute.create', 'compute.read'] }),
    );
    const { receiver: theirs, url: theirUrl } = await receiver();
    await addWebhook(mallory, theirUrl);

    const done = await api.submit(shellTask('notify-done', 'true'));
    const failed = await api.submit(shellTask('notify-failed', 'exit 1', { maxAttempts: 1 }));
    expect((await api.finalTask(done, 240_000)).state).toBe('done');
    expect((await api.finalTask(failed, 240_000)).state).toBe('failed');

    await waitFor(
      async () => {
        const deliveries = await deliveriesOf(api, webhookId);
        return deliveries.filter((d) => d.status === 'delivered').length === 2;
      },
      { timeoutMs: 30_000, what: 'both task ends delivered' },
    );
    // Everything the feed and the bus had is handed over: nothing more can come for these changes.
    await stack.changeFeeds.tasks?.drain(30_000);
    await stack.eventBus.idle();

    const events = mine.received.map((r) => verified(r, secret));
    expect(events.map((e) => [e.detail.taskId, e.detail.to]).sort()).toEqual(
      [
        [done, 'done'],
        [failed, 'failed'],
      ].sort(),
    );
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    expect(events.every((e) => e.detail.owner === 'local-user')).toBe(true);
    expect(theirs.received).toEqual([]);
  });

  it('gets the event after it comes back when it was down at first', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/hook`;
    const { webhookId, secret } = await addWebhook(api, url);
    const taskId = await api.submit(shellTask('notify-down', 'true'));
    expect((await api.finalTask(taskId, 240_000)).state).toBe('done');

    // Not listening: the first attempt fails and the failure is visible.
    const failing = await waitFor(
      async () => (await deliveriesOf(api, webhookId)).find((d) => d.taskId === taskId && d.attempts >= 1),
      { timeoutMs: 30_000, what: 'a failed first attempt' },
    );
    expect(failing.status).toBe('pending');
    expect(failing.lastError).toBeDefined();

    // Back, but answering 503 at first; then well.
    const { receiver: back } = await receiver(port);
    back.status = 503;
    await waitFor(async () => back.received.length >= 1, {
      timeoutMs: 30_000,
      what: 'a retry to reach the receiver',
    });
    back.status = 200;
    await waitFor(
      async () =>
        (await deliveriesOf(api, webhookId)).find((d) => d.taskId === taskId && d.status === 'delivered'),
      { timeoutMs: 60_000, what: 'the delivery after the receiver came back' },
    );
    const events = back.received.map((r) => verified(r, secret));
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]?.detail).toMatchObject({ taskId, to: 'done' });
  });

  it('refuses a plain http URL that is not loopback, naming url', async () => {
    const answer = await api.post<ErrorBody>('/notifications/webhooks', {
      url: 'http://hooks.example.org/x',
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.issues?.map((i) => i.field)).toEqual(['url']);
  });
});

describe('gluon submit --wait', () => {
  const dir = tempStateDir('notify-specs');
  const run = (file: string) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        ['cli/main.ts', 'submit', file, '--wait', '--interval', '1'],
        {
          env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
          encoding: 'utf8',
        },
        (error, stdout) => resolve({ code: error === null ? 0 : Number(error.code), stdout }),
      );
    });

  it.each([
    ['done', 'true', 0],
    ['failed', 'exit 1', 3],
  ] as const)('exits with the code of a task that ends %s', async (end, script, code) => {
    const file = join(dir, `${end}.json`);
    writeFileSync(file, JSON.stringify(shellTask(`wait-${end}`, script, { maxAttempts: 1 })));
    const result = await run(file);
    expect(result.code).toBe(code);
    expect(result.stdout).toMatch(new RegExp(`task t-\\S+ ${end}: `));
  });
});
