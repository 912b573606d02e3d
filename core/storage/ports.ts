export interface ObjectStore {
  readonly bucket: string;
  presignPut(key: string, expiresInSec: number): Promise<string>;
  /** A URL that lets its holder GET exactly `key` (Range requests included) until it expires. */
  presignGet(key: string, expiresInSec: number): Promise<string>;
}
