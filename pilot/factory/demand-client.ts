/** `GET /sites/{siteId}/demand` for the pilot factory, through the typed API client (answer checked). */
import { ApiRequestError, GluonClient } from '#client/gluon-client.ts';
import type { SiteDemand } from '#core/api/sites.ts';

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
  const client = new GluonClient({
    baseUrl: options.apiUrl,
    token: options.token,
    timeoutMs: options.timeoutMs ?? 15_000,
    retries: 1,
  });
  return async (siteId, signal) => {
    try {
      return await client.call('siteDemand', { params: { siteId } }, signal === undefined ? {} : { signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new DemandRequestError(
        `GET /sites/${siteId}/demand: ${(error as Error).message}`,
        error instanceof ApiRequestError ? error.status : undefined,
      );
    }
  };
}
