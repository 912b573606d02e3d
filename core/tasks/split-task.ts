import type { JobInput, JobParameters } from '../jobs/job.ts';
import type { TaskSpec } from './task-spec.ts';

/**
 * Static splitting. A job's parameters follow from the immutable spec and its index alone, so a
 * task of a million jobs is never materialised: the enqueue step asks for one page at a time, and
 * the claim asks for the one job it hands out. Both call jobAt, so a job's inputs are fixed once.
 */
export function jobCount(spec: TaskSpec): number {
  // An event-service task starts with its consumers; its merge jobs are added when the ranges end.
  if (spec.eventService !== undefined) return spec.eventService.consumers;
  if (spec.events !== undefined) {
    const perJob = spec.split.eventsPerJob ?? spec.events;
    return Math.ceil(spec.events / perJob);
  }
  const files = spec.inputs?.files.length ?? 0;
  return Math.ceil(files / (spec.split.filesPerJob ?? 1));
}

type SpecInputFile = NonNullable<TaskSpec['inputs']>['files'][number];

/** An input file of the spec as a job carries it: name, and what is known of it (checked at stage-in). */
export function jobInput(file: SpecInputFile): JobInput {
  if (typeof file === 'string') return { name: file };
  return {
    name: file.name,
    ...(file.adler32 === undefined ? {} : { adler32: file.adler32 }),
    ...(file.bytes === undefined ? {} : { bytes: file.bytes }),
    ...(file.events === undefined ? {} : { events: file.events }),
  };
}

/** The parameters of job `jobIndex` (0-based) of a task. */
export function jobAt(spec: TaskSpec, jobIndex: number): JobParameters {
  // Consumers take their events from the range queue; merge jobs their inputs from range records.
  if (spec.eventService !== undefined) return { jobIndex };
  const total = jobCount(spec);
  if (!Number.isInteger(jobIndex) || jobIndex < 0 || jobIndex >= total) {
    throw new RangeError(`job index ${jobIndex} outside 0..${total - 1}`);
  }
  if (spec.events !== undefined) {
    const perJob = spec.split.eventsPerJob ?? spec.events;
    const firstEvent = jobIndex * perJob;
    return { jobIndex, firstEvent, nEvents: Math.min(perJob, spec.events - firstEvent) };
  }
  const perJob = spec.split.filesPerJob ?? 1;
  const inputs = (spec.inputs?.files ?? []).slice(jobIndex * perJob, (jobIndex + 1) * perJob).map(jobInput);
  const known = inputs.every((f) => f.events !== undefined);
  return known
    ? { jobIndex, inputs, nEvents: inputs.reduce((n, f) => n + (f.events ?? 0), 0) }
    : { jobIndex, inputs };
}

/** The indexes of the page [from, from + limit), clipped to the task's size. */
export function jobIndexes(spec: TaskSpec, from: number, limit: number): number[] {
  const end = Math.min(jobCount(spec), from + limit);
  const indexes: number[] = [];
  for (let i = from; i < end; i++) indexes.push(i);
  return indexes;
}

/** The names of a job's input files, as the payload sees them in ${inputFiles}. */
export function inputNames(parameters: JobParameters): string[] | undefined {
  return parameters.inputs?.map((f) => f.name);
}
