/**
 * The change feed of a table as it reaches a function: a DynamoDB Streams event (on AWS from the
 * Lambda event source mapping, with a tumbling window so that the event names its shard; locally
 * from the stack's stream poller, in the same shape). The shard is the feed: within it, sequence
 * numbers order the changes, which is what counting each change once relies on.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { fieldIssues, ValidationError } from '#core/errors.ts';

const ImageSchema = z.record(z.string(), z.unknown());

export const StreamEventSchema = z.object({
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
export type StreamEvent = z.input<typeof StreamEventSchema>;

/** One change of a record: before and after, in its feed at position `seq`. */
export interface RecordChange<R> {
  feed: string;
  seq: string;
  before?: R;
  after?: R;
}

function record<R>(image: Record<string, unknown> | undefined): R | undefined {
  if (image === undefined) return undefined;
  return unmarshall(image as Record<string, AttributeValue>) as unknown as R;
}

/**
 * The changes of one batch, in stream order; a malformed event is refused with its fields named.
 * `what` names the records in the error (`job`, `range`).
 */
export function changesOf<R>(event: unknown, what: string): Array<RecordChange<R>> {
  const parsed = StreamEventSchema.safeParse(event);
  if (!parsed.success)
    throw new ValidationError(`invalid ${what} stream event`, fieldIssues(parsed.error.issues, 'event'));
  return parsed.data.Records.map((r) => {
    const before = record<R>(r.dynamodb.OldImage);
    const after = record<R>(r.dynamodb.NewImage);
    return {
      feed: parsed.data.shardId,
      seq: r.dynamodb.SequenceNumber,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    };
  });
}
