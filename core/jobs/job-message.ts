import { z } from 'zod';
import { fieldIssues, ValidationError } from '../errors.ts';
import { SiteIdSchema } from '../sites/site.ts';
import { type JobNeeds, type ResourceClass, resourceClassOf } from './resource-class.ts';

/**
 * The body of a job message in a site queue: "job J, attempt A may run at site S". Versioned; a
 * message that does not parse is never acknowledged, so it ends in the queue's DLQ. Messages are
 * sent in two places only: the enqueue step (first attempts) and the change feed of job records
 * (every later attempt, once its record says it is queued), both through jobMessage().
 */
export const JobMessageSchema = z.strictObject({
  v: z.literal(1),
  taskId: z.string().min(1).max(64),
  jobIndex: z.number().int().nonnegative(),
  attempt: z.number().int().min(1),
  siteId: SiteIdSchema,
  /** When the message was sent (epoch ms): the claim records it, for the dispatch latency. */
  sentAt: z.number().int().nonnegative().optional(),
  /**
   * What the attempt needs: its resource class (the queue it is in) follows from it, and a pilot
   * checks it before claiming. Absent: one core and no more than the single-core class's memory.
   */
  needs: z
    .strictObject({
      cores: z.number().int().min(1),
      memoryMB: z.number().int().min(1),
      gpus: z.number().int().min(0).optional(),
    })
    .optional(),
});
export type JobMessage = z.infer<typeof JobMessageSchema>;

/** The message of an attempt needing `needs` (the attempt's resources: the spec's, raised by retries). */
export function jobMessage(
  ref: { taskId: string; jobIndex: number; attempt: number },
  siteId: string,
  sentAt: number,
  needs: JobNeeds,
): JobMessage {
  const { cores, memoryMB, gpus } = needs;
  return {
    v: 1,
    taskId: ref.taskId,
    jobIndex: ref.jobIndex,
    attempt: ref.attempt,
    siteId,
    sentAt,
    needs: { cores, memoryMB, ...(gpus === undefined || gpus === 0 ? {} : { gpus }) },
  };
}

/** What a message's attempt needs (a message without needs is single-core: sent before classes). */
export function messageNeeds(message: Pick<JobMessage, 'needs'>): JobNeeds {
  return message.needs ?? { cores: 1, memoryMB: 1 };
}

/** The resource class of a message's attempt: the queue of its site it goes to. */
export function messageClass(message: Pick<JobMessage, 'needs'>): ResourceClass {
  return resourceClassOf(messageNeeds(message));
}

export function parseJobMessage(body: string): JobMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ValidationError('malformed job message', [{ field: 'body', message: 'not JSON' }]);
  }
  const result = JobMessageSchema.safeParse(value);
  if (!result.success)
    throw new ValidationError('malformed job message', fieldIssues(result.error.issues, 'body'));
  return result.data;
}
