/** `GET /sites/{siteId}/demand` for the pilot factory: bearer token, timeout, answer checked with zod. */
import { z } from 'zod';
import type { SiteDemand } from '#core/api/contract.ts';

const count = z.number().int().min(0);

const SiteDemandSchema = z.object({
  siteId: z.string(),
  status: z.enum(['online', 'offline', 'test']),
  queuedJobs: count,
  pilots: z.object({ starting: count, idle: count, busy: count, draining: count }),
  maxPilots: count,
  pilotsWanted: count,
  slot: z.object({
    cores: z.number().int().min(1),
    memoryMB: z.number().int().min(1),
    walltimeSec: z.number().int().min(1),
    diskMB: count,
  }),
}) satisfies z.ZodType<SiteDemand>;

/** The demand could not be fetched or read. */
export class DemandRequestError extends Error {
  override readonly name = 'DemandRequestError';
  readonly code = 'DEMAND_REQUEST_FAILED';
  /** HTTP status, when the API answered. */
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

export interface DemandClientOptions {
  apiUrl: string;
  token: string;
  timeoutMs?: number;
}

export type FetchDemand = (siteId: string, signal?: AbortSignal) => Promise<SiteDemand>;

export function demandClient(options: DemandClientOptions): FetchDemand {
  const base = options.apiUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 15_000;
  return async (siteId, signal) => {
    const path = `/sites/${encodeURIComponent(siteId)}/demand`;
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      const why = timeout.aborted
        ? `no answer within ${timeoutMs} ms`
        : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new DemandRequestError(`GET ${path}: ${why}`);
    }
    const text = await response.text();
    if (!response.ok) {
      throw new DemandRequestError(
        `GET ${path} failed with HTTP ${response.status}: ${text.trim().slice(0, 300)}`,
        response.status,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new DemandRequestError(
        `GET ${path}: the answer is not JSON: ${text.slice(0, 200)}`,
        response.status,
      );
    }
    const parsed = SiteDemandSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DemandRequestError(
        `GET ${path}: unexpected answer (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`,
        response.status,
      );
    }
    return parsed.data;
  };
}
