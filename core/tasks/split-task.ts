import type { JobInput, JobParameters } from '../jobs/job.ts';
import { scoutPlan, type TaskSizing } from './scout-sizing.ts';
import { type Resources, type SpecInputFile, specFiles, type TaskSpec } from './task-spec.ts';

/**
 * Static splitting. A job's parameters follow from the immutable spec and its index alone, so a
 * task of a million jobs is never materialised: the enqueue step asks for one page at a time, and
 * the claim asks for the one job it hands out. Both call jobAt, so a job's inputs are fixed once.
 */
export function jobCount(spec: TaskSpec, sizing?: TaskSizing): number {
  // An event-service task starts with its consumers; its merge jobs are added when the ranges end.
  if (spec.eventService !== undefined) return spec.eventService.consumers;
  // A scouted task starts with its scouts; the rest are added once the scouts sized them.
  const plan = scoutPlan(spec);
  if (plan !== undefined) return plan.scouts + (sizing?.jobs ?? 0);
  const units = spec.events ?? specFiles(spec).length;
  // An open dataset's files may be followed by more: only whole jobs are cut until it is closed,
  // so a job's inputs never change once it exists.
  const resolved = spec.inputs?.resolved;
  if (resolved !== undefined && !resolved.closed) return Math.floor(units / staticPerJob(spec));
  return Math.ceil(units / staticPerJob(spec));
}

/** Events per job of a generation task (all in one job when not given), files per job of a processing task. */
function staticPerJob(spec: TaskSpec): number {
  return spec.events !== undefined ? (spec.split.eventsPerJob ?? spec.events) : (spec.split.filesPerJob ?? 1);
}

/** An input file of the spec as a job carries it: name, and what is known of it (checked at stage-in). */
export function jobInput(file: SpecInputFile): JobInput {
  if (typeof file === 'string') return { name: file };
  return {
    name: file.name,
    ...(file.adler32 === undefined ? {} : { adler32: file.adler32 }),
    ...(file.bytes === undefined ? {} : { bytes: file.bytes }),
    ...(file.events === undefined ? {} : { events: file.events }),
    ...('replicas' in file ? { replicas: file.replicas } : {}),
  };
}

/**
 * The parameters of job `jobIndex` (0-based) of a task. A scouted task's scouts come first, then
 * the jobs its sizing (from the scouts) cut from the rest: those exist only with the sizing.
 */
export function jobAt(spec: TaskSpec, jobIndex: number, sizing?: TaskSizing): JobParameters {
  // Consumers take their events from the range queue; merge jobs their inputs from range records.
  if (spec.eventService !== undefined) return { jobIndex };
  const total = jobCount(spec, sizing);
  if (!Number.isInteger(jobIndex) || jobIndex < 0 || jobIndex >= total) {
    throw new RangeError(`job index ${jobIndex} outside 0..${total - 1}`);
  }
  const plan = scoutPlan(spec);
  const perStatic = staticPerJob(spec);
  const { first, perJob } =
    plan === undefined
      ? { first: jobIndex * perStatic, perJob: perStatic }
      : jobIndex < plan.scouts || sizing === undefined
        ? { first: jobIndex * plan.perScout, perJob: plan.perScout }
        : { first: plan.scoutUnits + (jobIndex - plan.scouts) * sizing.perJob, perJob: sizing.perJob };
  // The scouts' share ends where the rest begins, whatever the last scout's size.
  const end = plan !== undefined && jobIndex < plan.scouts ? plan.scoutUnits : Number.POSITIVE_INFINITY;
  if (spec.events !== undefined) {
    return { jobIndex, firstEvent: first, nEvents: Math.min(perJob, spec.events - first, end - first) };
  }
  const inputs = specFiles(spec)
    .slice(first, Math.min(first + perJob, end))
    .map(jobInput);
  const known = inputs.every((f) => f.events !== undefined);
  return known
    ? { jobIndex, inputs, nEvents: inputs.reduce((n, f) => n + (f.events ?? 0), 0) }
    : { jobIndex, inputs };
}

/**
 * The resources a job asks for before any retry raised them: the spec's, except for the jobs a
 * scouted task's sizing cut, which ask for the memory the scouts measured (plus the margin).
 * Retries' escalation applies on top (effectiveResources).
 */
export function jobResources(spec: TaskSpec, sizing: TaskSizing | undefined, jobIndex: number): Resources {
  const plan = scoutPlan(spec);
  if (plan === undefined || sizing === undefined || jobIndex < plan.scouts) return spec.resources;
  return { ...spec.resources, memoryMB: sizing.memoryMB };
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
