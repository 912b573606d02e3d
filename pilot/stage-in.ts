/**
 * Stage-in of a job's declared input files. An input name that is an S3 URL (`s3://bucket/key`)
 * or a key under `inputs/` or `tasks/` of the task bucket is downloaded into the work directory under its
 * base name, with retries, and verified against the adler32 and size the job carries for it
 * (ClaimedJob.inputs). Any other name (a path on a shared file system, an xrootd URL, …) is
 * handed to the payload unchanged. The payload's `${inputFiles}` lists the local names.
 */
import { join, posix } from 'node:path';
import { mapBounded } from '#adapters/concurrency.ts';
import type { ClaimedJob } from '#core/api/pilots.ts';
import { isStageInKey } from '#core/storage/object-keys.ts';
import type { S3Storage } from './s3-storage.ts';

export interface InputDownload {
  /** The name as the job gives it. */
  name: string;
  bucket: string;
  key: string;
  /** File name in the work directory. */
  localName: string;
  adler32?: string;
  bytes?: number;
}

export interface StageInPlan {
  downloads: InputDownload[];
  /** The input names for the payload, in the job's order: local names for downloaded files. */
  payloadNames: string[];
}

/** A job whose inputs cannot be staged in (bad name, duplicate local name). */
export class StageInError extends Error {
  override readonly name = 'StageInError';
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PLAIN_NAME = /^[A-Za-z0-9._+=,@-]+$/;

/** `s3://bucket/key` → bucket and key; undefined for any other name. */
export function parseS3Url(name: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(name);
  if (match === null) return undefined;
  return { bucket: match[1] as string, key: match[2] as string };
}

export function planStageIn(job: Pick<ClaimedJob, 'inputs'>, taskBucket: string): StageInPlan {
  const downloads: InputDownload[] = [];
  const payloadNames: string[] = [];
  const localNames = new Set<string>();
  for (const info of job.inputs ?? []) {
    const name = info.name;
    const s3 = parseS3Url(name);
    const location = s3 ?? (isStageInKey(name) ? { bucket: taskBucket, key: name } : undefined);
    if (location === undefined) {
      payloadNames.push(name);
      continue;
    }
    if (!BUCKET.test(location.bucket)) throw new StageInError(`input ${name}: not a valid bucket name`);
    const localName = info.localName ?? posix.basename(location.key);
    if (
      !PLAIN_NAME.test(localName) ||
      localName === '.' ||
      localName === '..' ||
      location.key.endsWith('/')
    ) {
      throw new StageInError(`input ${name}: its file name ${JSON.stringify(localName)} is not a plain name`);
    }
    if (localNames.has(localName)) {
      throw new StageInError(`input ${name}: another input has the same file name ${localName}`);
    }
    localNames.add(localName);
    downloads.push({
      name,
      ...location,
      localName,
      ...(info.adler32 === undefined ? {} : { adler32: info.adler32 }),
      ...(info.bytes === undefined ? {} : { bytes: info.bytes }),
    });
    payloadNames.push(localName);
  }
  return { downloads, payloadNames };
}

/** Downloads the plan's files into `workDir`, a few at a time; throws on the first failure. */
export async function stageIn(
  plan: StageInPlan,
  workDir: string,
  storage: S3Storage,
  options: { signal?: AbortSignal; freeDiskMB?: () => Promise<number> } = {},
): Promise<void> {
  const knownBytes = plan.downloads.reduce((sum, d) => sum + (d.bytes ?? 0), 0);
  if (knownBytes > 0 && options.freeDiskMB !== undefined) {
    const freeMB = await options.freeDiskMB();
    if (knownBytes / 2 ** 20 > freeMB) {
      throw new StageInError(
        `the inputs need ${Math.ceil(knownBytes / 2 ** 20)} MB, only ${freeMB} MB are free in the work area`,
      );
    }
  }
  // Several at a time: a merge job stages in up to thousands of small range outputs.
  await mapBounded(plan.downloads, DOWNLOADS_AT_ONCE, async (download) => {
    if (options.signal?.aborted) throw new StageInError('stage-in stopped: the pilot was asked to stop');
    await storage.downloadFile(
      download.key,
      join(workDir, download.localName),
      {
        ...(download.adler32 === undefined ? {} : { adler32: download.adler32 }),
        ...(download.bytes === undefined ? {} : { bytes: download.bytes }),
      },
      download.bucket,
    );
  });
}

const DOWNLOADS_AT_ONCE = 8;
