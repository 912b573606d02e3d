import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectStore } from '#core/storage/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

/** Objects (sandboxes, outputs, logs) in one bucket; clients upload and download with presigned URLs. */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;

  constructor(client: S3Client, bucket: string) {
    this.client = client;
    this.bucket = bucket;
  }

  /** A URL that lets its holder PUT exactly `key` for `expiresInSec` seconds. Signs locally; sends nothing. */
  async presignPut(key: string, expiresInSec: number): Promise<string> {
    try {
      return await getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: expiresInSec,
      });
    } catch (error) {
      rethrowSdkError(error, 'presign upload');
    }
  }

  /** A URL that lets its holder GET exactly `key` (Range requests too) for `expiresInSec` seconds. Sends nothing. */
  async presignGet(key: string, expiresInSec: number): Promise<string> {
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: expiresInSec,
      });
    } catch (error) {
      rethrowSdkError(error, 'presign download');
    }
  }
}

/** Creates the bucket unless it exists (for the local stack; CDK owns the bucket in AWS). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (error) {
    const name = errorName(error);
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (name !== 'NotFound' && name !== 'NoSuchBucket' && status !== 404)
      rethrowSdkError(error, `head bucket ${bucket}`);
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = errorName(error);
    if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
    rethrowSdkError(error, `create bucket ${bucket}`);
  }
}
