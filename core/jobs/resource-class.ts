import { z } from 'zod';

/**
 * Resource classes (PanDA's resource types SCORE, MCORE, HIMEM, and GPU): jobs are queued by site
 * and class, and a pilot polls only the queues of the classes it can run, so a one-core pilot never
 * sees a multi-core job and a pilot without a GPU never sees a GPU job. Within a class, the job
 * message carries the job's needs, so a pilot checks them before it claims (no API call for a job
 * it cannot fit).
 */
export const RESOURCE_CLASSES = ['score', 'mcore', 'himem', 'gpu'] as const;
export const ResourceClassSchema = z.enum(RESOURCE_CLASSES);
export type ResourceClass = z.infer<typeof ResourceClassSchema>;

/** Memory per core above which a job is high-memory: PanDA's HIMEM threshold (2 GB per core). */
export const HIMEM_MB_PER_CORE = 2000;

/** What a job needs (its class follows from it), as its message carries it. */
export interface JobNeeds {
  cores: number;
  memoryMB: number;
  gpus?: number | undefined;
}

/** A job's class: GPU if it needs one, else high-memory above 2 GB a core, else multi- or single-core. */
export function resourceClassOf(needs: JobNeeds): ResourceClass {
  if ((needs.gpus ?? 0) > 0) return 'gpu';
  if (needs.memoryMB > HIMEM_MB_PER_CORE * needs.cores) return 'himem';
  return needs.cores > 1 ? 'mcore' : 'score';
}

/**
 * The classes of which some job could fit `offer` (a slot, or what a pilot has free), the largest
 * first: a pilot with room for a big job looks for one before it fills up with small ones, so that
 * multi-core, high-memory and GPU jobs are not starved by single-core ones.
 */
export function classesFitting(offer: JobNeeds): ResourceClass[] {
  const classes: ResourceClass[] = [];
  if ((offer.gpus ?? 0) > 0) classes.push('gpu');
  // The smallest high-memory job: one core and just over HIMEM_MB_PER_CORE.
  if (offer.cores >= 1 && offer.memoryMB > HIMEM_MB_PER_CORE) classes.push('himem');
  if (offer.cores >= 2) classes.push('mcore');
  if (offer.cores >= 1) classes.push('score');
  return classes;
}

/** Whether a job needing `needs` fits `offer` in cores, memory and GPUs (walltime and disk are the claim's). */
export function needsFit(needs: JobNeeds, offer: JobNeeds): boolean {
  return (
    needs.cores <= offer.cores && needs.memoryMB <= offer.memoryMB && (needs.gpus ?? 0) <= (offer.gpus ?? 0)
  );
}
