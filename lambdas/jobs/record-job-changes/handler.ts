import middy from '@middy/core';
import { jobChangesOf } from '#adapters/dynamodb/job-change-feed.ts';
import type { Deps } from '#core/deps.ts';
import { recordJobChanges } from '#core/jobs/record-job-changes.ts';
import { createLogger } from '#platform/logger.ts';

const logger = createLogger({ base: { service: 'job-changes' } });

/**
 * The jobs table's change feed: dispatch, archive, account, count, kill late claims of cancelled tasks, release. A failure throws, so the batch
 * is delivered again (every step is safe to repeat). With the tumbling window the event source
 * mapping uses (it makes events name their shard), the answer must carry a `state`.
 */
export function createHandler(
  deps: Pick<
    Deps,
    'tasks' | 'jobs' | 'sites' | 'queue' | 'workflow' | 'leases' | 'clock' | 'policies' | 'accounting'
  >,
) {
  return middy<unknown, { state: Record<string, string> }>()
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
      }
      return { state: {} };
    });
}
