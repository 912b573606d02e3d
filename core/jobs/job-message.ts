import { z } from 'zod';
import { fieldIssues, ValidationError } from '../errors.ts';
import { SiteIdSchema } from '../tasks/task-spec.ts';

/**
 * The body of a job message in a site queue: "job J, attempt A may run at site S". Versioned; a
 * message that does not parse is never acknowledged, so it ends in the queue's DLQ.
 */
export const JobMessageSchema = z.strictObject({
  v: z.literal(1),
  taskId: z.string().min(1).max(64),
  jobIndex: z.number().int().nonnegative(),
  attempt: z.number().int().min(1),
  siteId: SiteIdSchema,
});
export type JobMessage = z.infer<typeof JobMessageSchema>;

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
