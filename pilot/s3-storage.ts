/**
 * The pilot's S3 adapter: uploads a file (stage-out, with its adler32 as object metadata; in parts
 * above a threshold, 64 MiB by default, as one PUT stops at 5 GiB) and
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
import { Upload } from '@aws-sdk/lib-storage';
import { type Logger, silentLogger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';
import { Adler32 } from './adler32.ts';

export interface S3StorageOptions {
  /** Retries after the first try. */
  retries?: number;
  backoffMs?: number;
  logger?: Logger;
  /** Files larger than this go up in parts (multipart upload); a single PUT stops at 5 GiB. */
  multipartThresholdBytes?: number;
  /** The size of each part but the last (at least S3's 5 MiB); raised when a file would need more than 10,000 parts. */
  partSizeBytes?: number;
}

/** S3's limits on a multipart upload. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_BYTES = 64 * 1024 * 1024;

/** The part size for a file: the wanted size, raised so that the file fits in S3's 10,000 parts. */
export function partSizeFor(fileBytes: number, wantedBytes: number = DEFAULT_PART_BYTES): number {
  return Math.max(MIN_PART_BYTES, wantedBytes, Math.ceil(fileBytes / MAX_PARTS));
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
  private readonly multipartThresholdBytes: number;
  private readonly partSizeBytes: number;

  constructor(client: S3Client, bucket: string, options: S3StorageOptions = {}) {
    this.client = client;
    this.bucket = bucket;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 500;
    this.logger = options.logger ?? silentLogger;
    this.multipartThresholdBytes = options.multipartThresholdBytes ?? DEFAULT_PART_BYTES;
    this.partSizeBytes = options.partSizeBytes ?? DEFAULT_PART_BYTES;
  }

  /**
   * Uploads a local file as `key`, in parts above the multipart threshold; `metadata` becomes
   * x-amz-meta-* (e.g. the adler32).
   */
  async uploadFile(
    key: string,
    path: string,
    contentType = 'application/octet-stream',
    metadata?: Record<string, string>,
  ): Promise<void> {
    await this.withRetries(`upload of ${key}`, async () => {
      const { size } = await stat(path);
      if (size > this.multipartThresholdBytes) {
        // In parts, a few at a time; a failed upload is aborted (its parts deleted) before a retry.
        await new Upload({
          client: this.client,
          params: {
            Bucket: this.bucket,
            Key: key,
            Body: createReadStream(path),
            ContentLength: size,
            ContentType: contentType,
            ...(metadata === undefined ? {} : { Metadata: metadata }),
          },
          partSize: partSizeFor(size, this.partSizeBytes),
          queueSize: 4,
          leavePartsOnError: false,
        }).done();
        return;
      }
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
