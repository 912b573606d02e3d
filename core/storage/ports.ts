export interface ObjectStore {
  readonly bucket: string;
  presignPut(key: string, expiresInSec: number): Promise<string>;
}
