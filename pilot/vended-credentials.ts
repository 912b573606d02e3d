/**
 * Short-lived AWS credentials vended by the API (at registration, renewed through
 * `POST /pilots/{pilotId}/credentials`), handed to the SQS and S3 clients as a credential
 * provider. They are renewed when less than 5 minutes or 20 % of their lifetime is left, whichever
 * comes first (at half-life for lifetimes under 10 minutes), in the background and whenever a
 * client asks for them past that point. A failed renewal keeps the current credentials and is
 * tried again after `retryMs`.
 */
import type { PilotCredentials } from '#core/api/index.ts';
import { type Logger, silentLogger } from '#platform/logger.ts';

/** The shape the AWS SDK's `credentials` option takes. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/**
 * A credential provider for the AWS SDK clients. `memoized: true` tells the SDK to call it for
 * every request instead of caching on its own rule (5 min before expiry), so ours decides.
 */
export type CredentialProvider = (() => Promise<AwsCredentials>) & { memoized?: boolean };

export const RENEW_BEFORE_MS = 5 * 60_000;
export const RENEW_FRACTION = 0.2;
const DEFAULT_RETRY_MS = 15_000;

/** When credentials received at `receivedAt` (ms) that expire at `expiresAt` (ms) are due for renewal. */
export function renewalDueAt(receivedAt: number, expiresAt: number): number {
  const lifetime = Math.max(0, expiresAt - receivedAt);
  const margin = Math.min(Math.max(RENEW_BEFORE_MS, lifetime * RENEW_FRACTION), lifetime / 2);
  return expiresAt - margin;
}

/** The credentials are usable: the fields the SDK needs are strings and the expiration parses. */
export function isPilotCredentials(value: unknown): value is PilotCredentials {
  const c = value as Partial<PilotCredentials> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.accessKeyId === 'string' &&
    c.accessKeyId !== '' &&
    typeof c.secretAccessKey === 'string' &&
    (c.sessionToken === undefined || typeof c.sessionToken === 'string') &&
    typeof c.expiration === 'string' &&
    Number.isFinite(Date.parse(c.expiration))
  );
}

export interface VendedCredentialsOptions {
  /** Asks the API for new credentials. */
  renew: () => Promise<PilotCredentials>;
  logger?: Logger;
  now?: () => number;
  /** Wait after a failed renewal before the next try. */
  retryMs?: number;
}

export class VendedCredentials {
  private currentCredentials: PilotCredentials;
  private dueAt: number;
  private nextTryAt = 0;
  private renewing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly options: VendedCredentialsOptions;
  private readonly now: () => number;
  private readonly logger: Logger;
  /** Renewals that succeeded. */
  renewals = 0;
  readonly provider: CredentialProvider;

  constructor(initial: PilotCredentials, options: VendedCredentialsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.currentCredentials = initial;
    this.dueAt = renewalDueAt(this.now(), Date.parse(initial.expiration));
    const provider: CredentialProvider = async () => {
      if (this.now() >= Math.max(this.dueAt, this.nextTryAt)) await this.renewNow();
      return toSdkCredentials(this.currentCredentials);
    };
    provider.memoized = true;
    this.provider = provider;
  }

  get current(): PilotCredentials {
    return this.currentCredentials;
  }

  /** When the current credentials are due for renewal (ms since the epoch). */
  get renewalDueAt(): number {
    return this.dueAt;
  }

  /** Starts renewing in the background (the timer does not keep the process alive). */
  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Renews now (one renewal at a time; callers during one wait for it). Never throws. */
  renewNow(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = undefined;
      this.schedule();
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    try {
      const fresh = await this.options.renew();
      if (!isPilotCredentials(fresh)) throw new Error('the API answered without usable credentials');
      this.currentCredentials = fresh;
      this.dueAt = renewalDueAt(this.now(), Date.parse(fresh.expiration));
      this.nextTryAt = 0;
      this.renewals++;
      this.logger.info('credentials renewed', {
        expiration: fresh.expiration,
        renewAt: new Date(this.dueAt).toISOString(),
      });
    } catch (error) {
      this.nextTryAt = this.now() + (this.options.retryMs ?? DEFAULT_RETRY_MS);
      this.logger.warn('credential renewal failed; keeping the current ones', {
        error,
        expiration: this.currentCredentials.expiration,
      });
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    const delay = Math.max(0, Math.max(this.dueAt, this.nextTryAt) - this.now());
    this.timer = setTimeout(() => void this.renewNow(), Math.min(delay, 2 ** 31 - 1));
    this.timer.unref();
  }
}

export function toSdkCredentials(c: PilotCredentials): AwsCredentials {
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    ...(c.sessionToken === undefined ? {} : { sessionToken: c.sessionToken }),
    expiration: new Date(c.expiration),
  };
}
