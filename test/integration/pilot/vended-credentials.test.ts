/**
 * Vended credentials through the real AWS SDK: the SQS client signs with what the provider
 * returns, and picks up renewed credentials at once (the SDK does not cache them on its own rule).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { PilotCredentials } from '#core/api/pilots.ts';
import { SqsSiteQueue } from '#pilot/sqs-site-queue.ts';
import { VendedCredentials } from '#pilot/vended-credentials.ts';

let server: Server | undefined;
const seen: IncomingHttpHeaders[] = [];

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  seen.length = 0;
});

/** An SQS endpoint that records the request headers and answers "no message". */
async function fakeSqs(): Promise<string> {
  const listening = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
}

function creds(n: number, lifetimeMs: number): PilotCredentials {
  return {
    accessKeyId: `AKIATEST${n}`,
    secretAccessKey: `secret-${n}`,
    sessionToken: `session-${n}`,
    expiration: new Date(Date.now() + lifetimeMs).toISOString(),
  };
}

describe('vended credentials with the AWS SDK', () => {
  it('signs SQS requests with the vended credentials, and with the renewed ones after a renewal', async () => {
    const endpoint = await fakeSqs();
    let n = 1;
    const vended = new VendedCredentials(creds(1, 3_600_000), { renew: async () => creds(++n, 3_600_000) });
    const client = new SQSClient({ region: 'us-east-1', endpoint, credentials: vended.provider });
    try {
      const queue = new SqsSiteQueue(client, `${endpoint}/000000000000/site-a`);
      expect(await queue.receive(0)).toBeUndefined();
      expect(seen[0]?.authorization).toContain('Credential=AKIATEST1/');
      expect(seen[0]?.['x-amz-security-token']).toBe('session-1');

      await vended.renewNow();
      await queue.receive(0);
      expect(seen[1]?.authorization).toContain('Credential=AKIATEST2/');
      expect(seen[1]?.['x-amz-security-token']).toBe('session-2');
    } finally {
      client.destroy();
      vended.stop();
    }
  });
});
