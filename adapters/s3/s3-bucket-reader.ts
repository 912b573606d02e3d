import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Adler32 } from '#core/storage/adler32.ts';
import type { BucketReader, ListedObject } from '#core/storage/ports.ts';
import { errorName, rethrowSdkError } from '../sdk-errors.ts';

/** Storage endpoints' buckets: listed by prefix, and read as a stream to checksum an object. */
export class S3BucketReader implements BucketReader {
  private readonly client: S3Client;

  constructor(client: S3Client) {
    this.client = client;
  }

  async listObjects(
    bucket: string,
    prefix: string,
    max: number,
  ): Promise<{ objects: ListedObject[]; truncated: boolean }> {
    const objects: ListedObject[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            MaxKeys: Math.min(1000, max - objects.length),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const o of out.Contents ?? []) {
          if (o.Key !== undefined) objects.push({ key: o.Key, bytes: o.Size ?? 0 });
        }
        token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
      } while (token !== undefined && objects.length < max);
      return { objects, truncated: token !== undefined };
    } catch (error) {
      rethrowSdkError(error, `list s3://${bucket}/${prefix}`);
    }
  }

  async checksumObject(bucket: string, key: string): Promise<{ bytes: number; adler32: string } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const sum = new Adler32();
      let bytes = 0;
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        sum.update(chunk);
        bytes += chunk.length;
      }
      return { bytes, adler32: sum.hex() };
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') return undefined;
      rethrowSdkError(error, `read s3://${bucket}/${key}`);
    }
  }
}
