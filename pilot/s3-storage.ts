/**
 * The pilot's S3 adapter: uploads a file (stage-out, with its adler32 as object metadata) and
 * downloads one with its checksums verified (stage-in), each retried with backoff. A checksum
 * mismatch, a missing object or a refused access are not retried: another try would get the same.
 * Endpoint from `AWS_ENDPOINT_URL_S3` (path-style then, as local stand-ins need), region from
 * `AWS_REGION` (default us-east-1), credentials from the SDK's default chain unless given.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type Logger, silentLogger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';
import { Adler32 } from './adler32.ts';

export interface S3StorageOptions {
  /** Retries after the first try. */
  retries?: number;
  backoffMs?: number;
  logger?: Logger;
}

/** What a downloaded file must match; only the given fields are checked. */
export interface ExpectedFile {
  sha256?: string;
  adler32?: string;
  bytes?: number;
}

/** A failure that another try would repeat (checksum mismatch, no such object, access denied). */
/** Files up to this size are uploaded from memory. */
const SMALL_UPLOAD_BYTES = 1024 * 1024;

export class PermanentTransferError extends Error {
  override readonly name = 'PermanentTransferError';
}

function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentTransferError) return true;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'NoSuchKey' || e.name === 'NoSuchBucket' || e.name === 'AccessDenied') return true;
  const status = e.$metadata?.httpStatusCode;
  return status === 403 || status === 404;
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

  /** Uploads a local file as `key`; `metadata` becomes x-amz-meta-* (e.g. the adler32). */
  async uploadFile(
    key: string,
    path: string,
    contentType = 'application/octet-stream',
    metadata?: Record<string, string>,
  ): Promise<void> {
    await this.withRetries(`upload of ${key}`, async () => {
      const { size } = await stat(path);
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          // A small file (an event range's output) goes as one buffer: a stream costs the SDK about
          // three times the CPU per upload, which dominates the pilot's cost per range.
          Body: size <= SMALL_UPLOAD_BYTES ? await readFile(path) : createReadStream(path),
          ContentLength: size,
          ContentType: contentType,
          ...(metadata === undefined ? {} : { Metadata: metadata }),
        }),
      );
    });
  }

  /**
   * Downloads `key` (of this bucket, or of `bucket`) to `path` and checks the given checksums and
   * size; a bad copy is removed.
   */
  async downloadFile(key: string, path: string, expected: ExpectedFile, bucket = this.bucket): Promise<void> {
    const where = bucket === this.bucket ? key : `s3://${bucket}/${key}`;
    await this.withRetries(`download of ${where}`, async () => {
      const output = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (output.Body === undefined) throw new Error(`object ${where} has no body`);
      const sha = expected.sha256 === undefined ? undefined : createHash('sha256');
      const adler = expected.adler32 === undefined ? undefined : new Adler32();
      let bytes = 0;
      await pipeline(
        output.Body as Readable,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            sha?.update(chunk);
            adler?.update(chunk);
            bytes += chunk.length;
            yield chunk;
          }
        },
        createWriteStream(path),
      );
      const problems: string[] = [];
      const sha256 = sha?.digest('hex');
      if (sha256 !== undefined && sha256 !== expected.sha256)
        problems.push(`sha256 ${sha256}, expected ${expected.sha256}`);
      const adler32 = adler?.hex();
      if (adler32 !== undefined && adler32 !== expected.adler32)
        problems.push(`adler32 ${adler32}, expected ${expected.adler32}`);
      if (expected.bytes !== undefined && bytes !== expected.bytes)
        problems.push(`${bytes} bytes, expected ${expected.bytes}`);
      if (problems.length > 0) {
        await rm(path, { force: true });
        throw new PermanentTransferError(`checksum mismatch for ${where}: got ${problems.join('; ')}`);
      }
    });
  }

  private async withRetries(what: string, action: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await action();
        return;
      } catch (error) {
        if (isPermanent(error)) {
          const message =
            error instanceof PermanentTransferError
              ? error.message
              : `${what} failed: ${(error as Error).name}: ${(error as Error).message}`;
          throw new PermanentTransferError(message, { cause: error });
        }
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
