import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AccountingExports } from '#core/accounting/ports.ts';
import { rethrowSdkError } from '../sdk-errors.ts';

/** Accounting exports as objects of the results bucket (a day's file is small: one PUT). */
export class S3AccountingExports implements AccountingExports {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(client: S3Client, bucket: string) {
    this.client = client;
    this.bucket = bucket;
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    } catch (error) {
      rethrowSdkError(error, `put ${key}`);
    }
  }
}
