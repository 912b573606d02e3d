import { createHmac } from 'node:crypto';
import type { WebhookAnswer, WebhookSender } from '#core/notifications/ports.ts';

/** `X-Gluon-Signature` of a body: `sha256=<hex HMAC-SHA256 of the body keyed with the webhook's secret>`. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Webhook POSTs with fetch; redirects are not followed (the URL was checked, where it leads was not). */
export class FetchWebhookSender implements WebhookSender {
  private readonly fetchFn: typeof fetch;

  constructor(fetchFn: typeof fetch = fetch) {
    this.fetchFn = fetchFn;
  }

  async post(request: Parameters<WebhookSender['post']>[0]): Promise<WebhookAnswer> {
    const { url, body, timeoutMs } = request;
    const headers = { ...request.headers, 'x-gluon-signature': signatureOf(request.secret, body) };
    try {
      const response = await this.fetchFn(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      // The answer's body is not needed; read it so the connection is freed.
      await response.arrayBuffer().catch(() => undefined);
      return { status: response.status };
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      const reason =
        (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : undefined;
      return { error: (reason ?? cause?.code ?? cause?.message ?? (error as Error).message).slice(0, 300) };
    }
  }
}
