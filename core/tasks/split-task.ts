import type { JobParameters } from '../jobs/job.ts';
import type { TaskSpec } from './task-spec.ts';

/**
 * Static splitting. A job's parameters follow from the spec and its index alone, so a task of a
 * million jobs is never materialised in memory: the enqueue step asks for one page at a time.
 */
export function jobCount(spec: TaskSpec): number {
  if (spec.events !== undefined) {
    const perJob = spec.split.eventsPerJob ?? spec.events;
    return Math.ceil(spec.events / perJob);
  }
  const files = spec.inputs?.files.length ?? 0;
  return Math.ceil(files / (spec.split.filesPerJob ?? 1));
}

export function inputFileName(
  file: TaskSpec extends { inputs?: { files: Array<infer F> } } ? F : never,
): string {
  return typeof file === 'string' ? file : file.name;
}

/** The parameters of job `jobIndex` (0-based) of a task. */
export function jobAt(spec: TaskSpec, jobIndex: number): JobParameters {
  const total = jobCount(spec);
  if (!Number.isInteger(jobIndex) || jobIndex < 0 || jobIndex >= total) {
    throw new RangeError(`job index ${jobIndex} outside 0..${total - 1}`);
  }
  if (spec.events !== undefined) {
    const perJob = spec.split.eventsPerJob ?? spec.events;
    const firstEvent = jobIndex * perJob;
    return { jobIndex, firstEvent, nEvents: Math.min(perJob, spec.events - firstEvent) };
  }
  const files = spec.inputs?.files ?? [];
  const perJob = spec.split.filesPerJob ?? 1;
  const slice = files.slice(jobIndex * perJob, (jobIndex + 1) * perJob);
  const inputFiles = slice.map((f) => inputFileName(f));
  const known = slice.every((f) => typeof f !== 'string' && f.events !== undefined);
  const nEvents = known
    ? slice.reduce((n, f) => n + (typeof f === 'string' ? 0 : (f.events ?? 0)), 0)
    : undefined;
  return nEvents === undefined ? { jobIndex, inputFiles } : { jobIndex, inputFiles, nEvents };
}

/** Parameters of the jobs in [from, from + limit), clipped to the task's size. */
export function jobPage(spec: TaskSpec, from: number, limit: number): JobParameters[] {
  const end = Math.min(jobCount(spec), from + limit);
  const page: JobParameters[] = [];
  for (let i = from; i < end; i++) page.push(jobAt(spec, i));
  return page;
}

/** What the spec says of job `jobIndex`'s input files (name, and checksum and size where given). */
export function jobInputs(
  spec: TaskSpec,
  jobIndex: number,
): Array<{ name: string; adler32?: string; bytes?: number }> {
  const files = spec.inputs?.files ?? [];
  const perJob = spec.split.filesPerJob ?? 1;
  return files.slice(jobIndex * perJob, (jobIndex + 1) * perJob).map((f) =>
    typeof f === 'string'
      ? { name: f }
      : {
          name: f.name,
          ...(f.adler32 === undefined ? {} : { adler32: f.adler32 }),
          ...(f.bytes === undefined ? {} : { bytes: f.bytes }),
        },
  );
}
