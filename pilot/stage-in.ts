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

/** One place a catalog file can be read from (a replica at an S3 endpoint). */
export interface DownloadSource {
  endpointId: string;
  bucket: string;
  key: string;
}

export interface InputDownload {
  /** The name as the job gives it. */
  name: string;
  bucket: string;
  key: string;
  /**
   * A catalog file's replicas to try in order (the first is `bucket`/`key`): a failed one (missing,
   * network after retries, size or checksum mismatch) is noted and the next tried.
   */
  sources?: DownloadSource[];
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
    if (info.replicas !== undefined) {
      const download = replicaDownload(info, info.replicas);
      if (typeof download === 'string') {
        payloadNames.push(download);
        continue;
      }
      if (localNames.has(download.localName))
        throw new StageInError(`input ${name}: another input has the same file name ${download.localName}`);
      localNames.add(download.localName);
      downloads.push(download);
      payloadNames.push(download.localName);
      continue;
    }
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

type InputInfo = NonNullable<ClaimedJob['inputs']>[number];

/**
 * A catalog file (name `scope:name`) read from its replicas: downloaded from its S3 replicas in
 * the claim's order, under its name without the scope; with only non-S3 replicas (grid storage),
 * the first URL goes to the payload as it is (a string).
 */
function replicaDownload(
  info: InputInfo,
  replicas: ReadonlyArray<{ endpointId: string; url: string }>,
): InputDownload | string {
  if (replicas.length === 0)
    throw new StageInError(`input ${info.name}: no replica this site may read (remote read not allowed)`);
  const sources: DownloadSource[] = [];
  for (const r of replicas) {
    const s3 = parseS3Url(r.url);
    if (s3 !== undefined && BUCKET.test(s3.bucket) && !s3.key.endsWith('/'))
      sources.push({ endpointId: r.endpointId, ...s3 });
  }
  const first = sources[0];
  if (first === undefined) return (replicas[0] as { url: string }).url;
  const localName = info.localName ?? info.name.slice(info.name.indexOf(':') + 1);
  if (!PLAIN_NAME.test(localName) || localName === '.' || localName === '..')
    throw new StageInError(
      `input ${info.name}: its file name ${JSON.stringify(localName)} is not a plain name`,
    );
  return {
    name: info.name,
    bucket: first.bucket,
    key: first.key,
    sources,
    localName,
    ...(info.adler32 === undefined ? {} : { adler32: info.adler32 }),
    ...(info.bytes === undefined ? {} : { bytes: info.bytes }),
  };
}

/** A replica that failed its stage-in (missing, unreadable, or not matching its checksum). */
export interface BadReplica {
  name: string;
  endpointId: string;
  reason: string;
}

/**
 * Downloads the plan's files into `workDir`, a few at a time; throws on the first file none of
 * whose replicas could be read. Each replica that failed is noted (`onFallback`) before the next
 * is tried.
 */
export async function stageIn(
  plan: StageInPlan,
  workDir: string,
  storage: S3Storage,
  options: {
    signal?: AbortSignal;
    freeDiskMB?: () => Promise<number>;
    onFallback?: (bad: BadReplica, next: string | undefined) => void;
  } = {},
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
    const expected = {
      ...(download.adler32 === undefined ? {} : { adler32: download.adler32 }),
      ...(download.bytes === undefined ? {} : { bytes: download.bytes }),
    };
    const path = join(workDir, download.localName);
    const sources = download.sources;
    if (sources === undefined) {
      await storage.downloadFile(download.key, path, expected, download.bucket);
      return;
    }
    const failures: string[] = [];
    for (const [k, source] of sources.entries()) {
      if (options.signal?.aborted) throw new StageInError('stage-in stopped: the pilot was asked to stop');
      try {
        await storage.downloadFile(source.key, path, expected, source.bucket);
        return;
      } catch (error) {
        const reason = (error as Error).message;
        failures.push(`${source.endpointId}: ${reason}`);
        options.onFallback?.(
          { name: download.name, endpointId: source.endpointId, reason },
          sources[k + 1]?.endpointId,
        );
      }
    }
    throw new StageInError(`${download.name}: every replica failed (${failures.join('; ')})`);
  });
}

const DOWNLOADS_AT_ONCE = 8;
