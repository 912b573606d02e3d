import { GluonClient } from '#client/gluon-client.ts';
import { sleep } from '#platform/sleep.ts';

/** What one unauthenticated request to the API's base URL found. */
export type ApiProbe =
  | {
      reachable: true;
      status: number;
      /** Local clock when the request was sent and the answer came (ms since the epoch). */
      sentAt: number;
      receivedAt: number;
      /** The answer's `Date` header (ms since the epoch, whole seconds), when there was one. */
      serverDate?: number;
    }
  | { reachable: false; error: string; tries: number };

export interface ProbeOptions {
  timeoutMs?: number;
  /** Tries in all (a first failure may be a blip). */
  tries?: number;
  backoffMs?: number;
  now?: () => number;
  signal?: AbortSignal;
}

/**
 * One GET of the API's base URL, without the token: any HTTP answer (even 401 or 404) proves the
 * API is reachable, and its `Date` header tells the API's clock. No function runs for it.
 */
export async function probeApi(baseUrl: string, options: ProbeOptions = {}): Promise<ApiProbe> {
  const now = options.now ?? Date.now;
  const tries = options.tries ?? 3;
  let lastError = '';
  for (let attempt = 1; ; attempt++) {
    const client = new GluonClient({ baseUrl, timeoutMs: options.timeoutMs ?? 10_000 });
    const sentAt = now();
    try {
      if (options.signal?.aborted) throw new Error('aborted');
      const response = await client.raw('GET', '/');
      const receivedAt = now();
      const date = Date.parse(response.headers.get('date') ?? '');
      return {
        reachable: true,
        status: response.status,
        sentAt,
        receivedAt,
        ...(Number.isFinite(date) ? { serverDate: date } : {}),
      };
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      lastError =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${(options.timeoutMs ?? 10_000) / 1000} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
    }
    if (attempt >= tries || options.signal?.aborted)
      return { reachable: false, error: lastError, tries: attempt };
    await sleep((options.backoffMs ?? 500) * 2 ** (attempt - 1), options.signal);
  }
}
