/**
 * The EC2 instance metadata service, IMDSv2 only: a session token first (PUT /latest/api/token with
 * its TTL header), then GETs carrying it. The token is kept and renewed before it expires (and once
 * more when IMDS answers 401). A path IMDS does not have (404) reads as undefined. Every request
 * has a short timeout: IMDS answers at once, or not at all (not on EC2, or the hop limit is too low).
 */

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';

/** The instance facts and notices the pilot reads (the fake IMDS of local/ serves exactly these). */
export const IMDS_PATHS = {
  token: '/latest/api/token',
  instanceId: '/latest/meta-data/instance-id',
  instanceType: '/latest/meta-data/instance-type',
  lifeCycle: '/latest/meta-data/instance-life-cycle',
  availabilityZone: '/latest/meta-data/placement/availability-zone',
  tags: '/latest/meta-data/tags/instance',
  spotAction: '/latest/meta-data/spot/instance-action',
  rebalance: '/latest/meta-data/events/recommendations/rebalance',
} as const;

const TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';

export class ImdsError extends Error {
  override readonly name = 'ImdsError';
}

export interface ImdsClientOptions {
  /** Base URL, e.g. http://169.254.169.254 (no trailing path). */
  endpoint?: string;
  /** Lifetime asked for the session token (AWS allows 1–21600 s). */
  tokenTtlSec?: number;
  /** Timeout of one request. */
  timeoutMs?: number;
  now?: () => number;
}

/** What a pilot on EC2 registers about its instance. */
export interface InstanceIdentity {
  instanceId: string;
  instanceType: string;
  market: 'spot' | 'on-demand';
  availabilityZone: string;
}

export class ImdsClient {
  readonly endpoint: string;
  private readonly tokenTtlSec: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private token: { value: string; renewAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;

  constructor(options: ImdsClientOptions = {}) {
    this.endpoint = (options.endpoint ?? DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '');
    this.tokenTtlSec = options.tokenTtlSec ?? 21_600;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The text at `path`, or undefined when IMDS has none (404). Throws ImdsError when IMDS does not answer. */
  async get(path: string): Promise<string | undefined> {
    let response = await this.request('GET', path, { [TOKEN_HEADER]: await this.sessionToken() });
    if (response.status === 401) {
      // The token expired or IMDS restarted: one more try with a fresh one.
      this.token = undefined;
      response = await this.request('GET', path, { [TOKEN_HEADER]: await this.sessionToken() });
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ImdsError(`instance metadata ${this.endpoint}${path} answered HTTP ${response.status}`);
    }
    return (await response.text()).trim();
  }

  /** Like get(), but a missing path is an error (for facts every instance has). */
  async require(path: string): Promise<string> {
    const value = await this.get(path);
    if (value === undefined || value === '') {
      throw new ImdsError(`instance metadata ${this.endpoint}${path} is missing`);
    }
    return value;
  }

  /** The instance's tags (instance metadata tags must be enabled), by key. */
  async tags(): Promise<Map<string, string>> {
    const tags = new Map<string, string>();
    const keys = await this.get(IMDS_PATHS.tags);
    if (keys === undefined) return tags;
    for (const key of keys.split('\n').map((k) => k.trim())) {
      if (key === '') continue;
      const value = await this.get(`${IMDS_PATHS.tags}/${encodeURIComponent(key)}`);
      if (value !== undefined) tags.set(key, value);
    }
    return tags;
  }

  async identity(): Promise<InstanceIdentity> {
    const [instanceId, instanceType, lifeCycle, availabilityZone] = await Promise.all([
      this.require(IMDS_PATHS.instanceId),
      this.require(IMDS_PATHS.instanceType),
      this.get(IMDS_PATHS.lifeCycle),
      this.require(IMDS_PATHS.availabilityZone),
    ]);
    return {
      instanceId,
      instanceType,
      market: lifeCycle === 'spot' ? 'spot' : 'on-demand',
      availabilityZone,
    };
  }

  private async sessionToken(): Promise<string> {
    if (this.token !== undefined && this.now() < this.token.renewAt) return this.token.value;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    const requestedAt = this.now();
    const response = await this.request('PUT', IMDS_PATHS.token, {
      [TOKEN_TTL_HEADER]: String(this.tokenTtlSec),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new ImdsError(
        `instance metadata ${this.endpoint}: the IMDSv2 token request answered HTTP ${response.status}`,
      );
    }
    const value = (await response.text()).trim();
    // Renewed when 90% of its life is gone, counted from before the request.
    this.token = { value, renewAt: requestedAt + this.tokenTtlSec * 900 };
    return value;
  }

  private async request(method: string, path: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(`${this.endpoint}${path}`, {
        method,
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const cause =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : (error as Error).message;
      throw new ImdsError(
        `instance metadata service at ${this.endpoint} does not answer (${method} ${path}: ${cause}); ` +
          'is this an EC2 instance with IMDSv2 reachable (hop limit), or is --imds-endpoint right?',
        { cause: error },
      );
    }
  }
}
