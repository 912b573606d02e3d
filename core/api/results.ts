/** The results routes' paths, queries and answers: a job's log, its outputs, a task's outputs. */
import { z } from 'zod';
import { JobPathSchema, TaskIdSchema } from './common.ts';

const JobIndexSchema = z.number().int().nonnegative();
const Adler32Schema = z.string().regex(/^[0-9a-f]{8}$/, '8 lower-case hex digits');

export const JobLogQuerySchema = z.strictObject({
  /** The attempt whose log to read; the job's last ended attempt when absent. */
  attempt: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});
export type JobLogQuery = z.infer<typeof JobLogQuerySchema>;

export const JobOutputPathSchema = JobPathSchema.extend({ name: z.string().min(1).max(200) });

export const TaskOutputsQuerySchema = z.strictObject({
  /** Only this job's outputs. */
  index: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type TaskOutputsQuery = z.infer<typeof TaskOutputsQuerySchema>;

/** A presigned GET of one attempt's log object (the pilot's notes and the payload's stdout/stderr). */
export const JobLogResponseSchema = z.object({
  taskId: TaskIdSchema,
  index: JobIndexSchema,
  attempt: z.number().int().min(1),
  url: z.string(),
  expiresInSec: z.number().int().positive(),
});
export type JobLogResponse = z.infer<typeof JobLogResponseSchema>;

/** A presigned GET of one output of a job, with the size and adler32 its pilot recorded. */
export const JobOutputResponseSchema = z.object({
  taskId: TaskIdSchema,
  index: JobIndexSchema,
  name: z.string(),
  url: z.string(),
  sizeBytes: z.number().int().nonnegative().optional(),
  adler32: Adler32Schema.optional(),
  expiresInSec: z.number().int().positive(),
});
export type JobOutputResponse = z.infer<typeof JobOutputResponseSchema>;

export const TaskOutputSchema = z.object({
  index: JobIndexSchema,
  name: z.string(),
  sizeBytes: z.number().int().nonnegative().optional(),
  adler32: Adler32Schema.optional(),
});
export type TaskOutput = z.infer<typeof TaskOutputSchema>;

export const TaskOutputsResponseSchema = z.object({ outputs: z.array(TaskOutputSchema) });
export type TaskOutputsResponse = z.infer<typeof TaskOutputsResponseSchema>;
