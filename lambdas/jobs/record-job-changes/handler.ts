import middy from '@middy/core';
import { jobChangesOf } from '#adapters/dynamodb/job-change-feed.ts';
import { jobChangeFacts } from '#core/jobs/job-change-facts.ts';
import { type RecordJobChangesDeps, recordJobChanges } from '#core/jobs/record-job-changes.ts';
import { count, countBy, logger, powertools } from '../../runtime/powertools.ts';

/**
 * The jobs table's change feed: dispatch, archive, account, count, kill late claims of cancelled
 * tasks, release; and the operators' job metrics (started, ended by outcome, retries by pilot error
 * code), counted here because every start and end is one write the feed sees. A failure throws, so the batch
 * is delivered again (every step is safe to repeat). With the tumbling window the event source
 * mapping uses (it makes events name their shard), the answer must carry a `state`.
 */
export function createHandler(deps: RecordJobChangesDeps) {
  return powertools(middy<unknown, { state: Record<string, string> }>())
    .onError(async (request) => {
      logger.error('job changes not recorded; the batch will come again', {
        error:
          request.error instanceof Error
            ? `${request.error.name}: ${request.error.message}`
            : String(request.error),
      });
    })
    .handler(async (event) => {
      const changes = jobChangesOf(event);
      if (changes.length > 0) {
        const result = await recordJobChanges(deps, changes);
        logger.debug('job changes recorded', { changes: changes.length, ...result });
        // Counted once the batch is recorded: a failed batch comes again and counts then.
        const facts = jobChangeFacts(changes);
        count('JobsStarted', facts.started);
        countBy('JobsEnded', 'outcome', facts.ended);
        countBy('RetriesByErrorCode', 'pilotErrorCode', facts.retried);
      }
      return { state: {} };
    });
}
