/**
 * The change feed of the jobs table as it reaches a function: a DynamoDB Streams event (on AWS
 * from the Lambda event source mapping, with a tumbling window so that the event names its shard;
 * locally from the stack's stream poller, in the same shape). The shard is the feed: within it,
 * sequence numbers order the changes, which is what counting each change once relies on.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { fieldIssues, ValidationError } from '#core/errors.ts';
import type { JobRecord } from '#core/jobs/job.ts';
import type { JobRecordChange } from '#core/jobs/ports.ts';

const ImageSchema = z.record(z.string(), z.unknown());

export const JobStreamEventSchema = z.object({
  shardId: z.string().min(1),
  Records: z.array(
    z.object({
      eventName: z.enum(['INSERT', 'MODIFY', 'REMOVE']),
      dynamodb: z.object({
        SequenceNumber: z.string().regex(/^[0-9]+$/, 'decimal digits'),
        NewImage: ImageSchema.optional(),
        OldImage: ImageSchema.optional(),
      }),
    }),
  ),
});
export type JobStreamEvent = z.input<typeof JobStreamEventSchema>;

function record(image: Record<string, unknown> | undefined): JobRecord | undefined {
  if (image === undefined) return undefined;
  return unmarshall(image as Record<string, AttributeValue>) as unknown as JobRecord;
}

/** The changes of one batch, in stream order; a malformed event is refused with its fields named. */
export function jobChangesOf(event: unknown): JobRecordChange[] {
  const parsed = JobStreamEventSchema.safeParse(event);
  if (!parsed.success)
    throw new ValidationError('invalid job stream event', fieldIssues(parsed.error.issues, 'event'));
  return parsed.data.Records.map((r) => {
    const before = record(r.dynamodb.OldImage);
    const after = record(r.dynamodb.NewImage);
    return {
      feed: parsed.data.shardId,
      seq: r.dynamodb.SequenceNumber,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    };
  });
}
