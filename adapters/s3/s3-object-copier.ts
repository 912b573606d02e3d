import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { ObjectCopier, ObjectRef } from '#core/transfers/ports.ts';
import { rethrowSdkError } from '../sdk-errors.ts';
import { S3BucketReader } from './s3-bucket-reader.ts';

/** S3 copies one object of up to 5 GiB with CopyObject; larger ones must go in parts. */
export const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
/** S3's smallest part (all but the last). */
export const MIN_PART_BYTES = 5 * 1024 ** 2;

export interface CopierSettings {
  /** Objects above this many bytes are copied in parts (default 64 MiB; at most 5 GiB). */
  multipartThresholdBytes: number;
  /** Size of each part but the last (at least 5 MiB, S3's minimum). */
  partBytes: number;
}

export const DEFAULT_COPIER_SETTINGS: CopierSettings = {
  multipartThresholdBytes: 64 * 1024 ** 2,
  partBytes: 64 * 1024 ** 2,
};

/** S3 allows at most 10,000 parts: the part size grows for objects that would need more. */
const MAX_PARTS = 10_000;
/** Parts copied at once. */
const PARTS_IN_FLIGHT = 4;

/**
 * The transfer service's copier: server-side copies between buckets (CopyObject, or
 * CreateMultipartUpload + UploadPartCopy with byte ranges + CompleteMultipartUpload above the
 * threshold), and verification by reading an object back as a stream (adler32 and size).
 */
export class S3ObjectCopier implements ObjectCopier {
  private readonly client: S3Client;
  private readonly settings: CopierSettings;
  private readonly reader: S3BucketReader;

  constructor(client: S3Client, settings: Partial<CopierSettings> = {}) {
    this.client = client;
    this.reader = new S3BucketReader(client);
    this.settings = { ...DEFAULT_COPIER_SETTINGS, ...settings };
    if (this.settings.partBytes < MIN_PART_BYTES) {
      throw new RangeError(
        `partBytes ${this.settings.partBytes} is under S3's minimum part of ${MIN_PART_BYTES}`,
      );
    }
  }

  async copy(source: ObjectRef, destination: ObjectRef, bytes: number): Promise<void> {
    const threshold = Math.min(this.settings.multipartThresholdBytes, MAX_SINGLE_COPY_BYTES);
    if (bytes > threshold) return this.copyInParts(source, destination, bytes);
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: destination.bucket,
          Key: destination.key,
          CopySource: copySource(source),
        }),
      );
    } catch (error) {
      rethrowSdkError(error, `copy s3://${source.bucket}/${source.key}`);
    }
  }

  /** The byte ranges of the parts of an object of `bytes` bytes. */
  partRanges(bytes: number): Array<{ partNumber: number; first: number; last: number }> {
    const partBytes = Math.max(this.settings.partBytes, Math.ceil(bytes / MAX_PARTS));
    const ranges = [];
    for (let first = 0, partNumber = 1; first < bytes; first += partBytes, partNumber++) {
      ranges.push({ partNumber, first, last: Math.min(bytes, first + partBytes) - 1 });
    }
    return ranges;
  }

  private async copyInParts(source: ObjectRef, destination: ObjectRef, bytes: number): Promise<void> {
    const what = `copy s3://${source.bucket}/${source.key} in parts`;
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: destination.bucket, Key: destination.key }),
      );
      uploadId = created.UploadId;
      if (uploadId === undefined) throw new Error('CreateMultipartUpload answered no upload id');
      const ranges = this.partRanges(bytes);
      const parts: Array<{ PartNumber: number; ETag: string }> = [];
      for (let i = 0; i < ranges.length; i += PARTS_IN_FLIGHT) {
        const copied = await Promise.all(
          ranges.slice(i, i + PARTS_IN_FLIGHT).map(async (range) => {
            const out = await this.client.send(
              new UploadPartCopyCommand({
                Bucket: destination.bucket,
                Key: destination.key,
                UploadId: uploadId,
                PartNumber: range.partNumber,
                CopySource: copySource(source),
                CopySourceRange: `bytes=${range.first}-${range.last}`,
              }),
            );
            const etag = out.CopyPartResult?.ETag;
            if (etag === undefined)
              throw new Error(`UploadPartCopy of part ${range.partNumber} answered no ETag`);
            return { PartNumber: range.partNumber, ETag: etag };
          }),
        );
        parts.push(...copied);
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: destination.bucket,
          Key: destination.key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (error) {
      // An abandoned upload's parts are billed until aborted.
      if (uploadId !== undefined) {
        await this.client
          .send(
            new AbortMultipartUploadCommand({
              Bucket: destination.bucket,
              Key: destination.key,
              UploadId: uploadId,
            }),
          )
          .catch(() => {});
      }
      rethrowSdkError(error, what);
    }
  }

  /** Read back as a stream, as the catalog reads a listed object (one reader of S3 for both). */
  checksum(object: ObjectRef): Promise<{ bytes: number; adler32: string } | undefined> {
    return this.reader.checksumObject(object.bucket, object.key);
  }

  async remove(object: ObjectRef): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: object.bucket, Key: object.key }));
    } catch (error) {
      rethrowSdkError(error, `delete s3://${object.bucket}/${object.key}`);
    }
  }
}

/** `bucket/key`, the key URL-encoded segment by segment, as x-amz-copy-source wants it. */
function copySource(source: ObjectRef): string {
  return `${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
}
