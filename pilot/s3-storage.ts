/**
 * The pilot's S3 adapter: uploads a file (stage-out) and downloads one with a sha256 check
 * (stage-in), each retried with backoff. Endpoint from `AWS_ENDPOINT_URL_S3` (path-style then, as
 * local stand-ins need), region from `AWS_REGION` (default us-east-1).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type Logger, silentLogger } from './logger.ts';
import { countAwsRequests } from './request-counter.ts';
import { sleep } from './sleep.ts';

export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return countAwsRequests(
    new S3Client({
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      forcePathStyle: env.AWS_ENDPOINT_URL_S3 !== undefined && env.AWS_ENDPOINT_URL_S3 !== '',
    }),
    'S3',
  );
}

export interface S3StorageOptions {
  /** Retries after the first try. */
  retries?: number;
  backoffMs?: number;
  logger?: Logger;
}

export class S3Storage {
  private readonly client: S3Client;
  readonly bucket: string;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly logger: Logger;

  constructor(client: S3Client, bucket: string, options: S3StorageOptions = {}) {
    this.client = client;
    this.bucket = bucket;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 500;
    this.logger = options.logger ?? silentLogger;
  }

  /** Uploads a local file as `key`. */
  async uploadFile(key: string, path: string, contentType = 'application/octet-stream'): Promise<void> {
    await this.withRetries(`upload of ${key}`, async () => {
      const { size } = await stat(path);
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: size,
          ContentType: contentType,
        }),
      );
    });
  }

  /** Downloads `key` to `path` and checks its sha256 (and size, when given); a bad copy is removed. */
  async downloadFile(key: string, path: string, expected: { sha256: string; bytes?: number }): Promise<void> {
    await this.withRetries(`download of ${key}`, async () => {
      const output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (output.Body === undefined) throw new Error(`object ${key} has no body`);
      const hash = createHash('sha256');
      let bytes = 0;
      await pipeline(
        output.Body as Readable,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            bytes += chunk.length;
            yield chunk;
          }
        },
        createWriteStream(path),
      );
      const sha256 = hash.digest('hex');
      if (sha256 !== expected.sha256 || (expected.bytes !== undefined && bytes !== expected.bytes)) {
        await rm(path, { force: true });
        throw new Error(
          `checksum mismatch for ${key}: got sha256 ${sha256} (${bytes} bytes), ` +
            `expected ${expected.sha256}${expected.bytes === undefined ? '' : ` (${expected.bytes} bytes)`}`,
        );
      }
    });
  }

  private async withRetries(what: string, action: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await action();
        return;
      } catch (error) {
        if (attempt >= this.retries) {
          throw new Error(`${what} failed after ${attempt + 1} tries: ${(error as Error).message}`, {
            cause: error,
          });
        }
        const delay = this.backoffMs * 2 ** attempt;
        this.logger.warn('S3 transfer failed; retrying', { what, error, retryInMs: delay });
        await sleep(delay);
      }
    }
  }
}
