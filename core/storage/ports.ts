export interface ObjectStore {
  readonly bucket: string;
  presignPut(key: string, expiresInSec: number): Promise<string>;
  /** A URL that lets its holder GET exactly `key` (Range requests included) until it expires. */
  presignGet(key: string, expiresInSec: number): Promise<string>;
}

/** An object of a bucket, as a listing gives it. */
export interface ListedObject {
  key: string;
  bytes: number;
}

/**
 * Buckets named by storage endpoints (runtime data, not the deployment's own bucket): listed, and
 * read through once to checksum what a user registers from a listing.
 */
export interface BucketReader {
  /** Objects under `prefix`, by key, at most `max` (`truncated` when more follow). */
  listObjects(
    bucket: string,
    prefix: string,
    max: number,
  ): Promise<{ objects: ListedObject[]; truncated: boolean }>;
  /** The object's size and Adler-32, reading it as a stream; undefined when it is absent. */
  checksumObject(bucket: string, key: string): Promise<{ bytes: number; adler32: string } | undefined>;
}
