import middy from '@middy/core';
import { rangeChangesOf } from '#adapters/dynamodb/range-change-feed.ts';
import type { Deps } from '#core/deps.ts';
import { recordRangeChanges } from '#core/event-ranges/record-range-changes.ts';
import { logger, powertools } from '../../runtime/powertools.ts';

/**
 * The ranges table's change feed: retries, fatal ranges to the DLQ, exact counters. A failure
 * throws, so the batch is delivered again (every step is safe to repeat). With the tumbling window
 * the event source mapping uses, the answer must carry a `state`.
 */
export function createHandler(deps: Pick<Deps, 'tasks' | 'rangeQueue'>) {
  return powertools(middy<unknown, { state: Record<string, string> }>())
    .onError(async (request) => {
      logger.error('range changes not recorded; the batch will come again', {
        error:
          request.error instanceof Error
            ? `${request.error.name}: ${request.error.message}`
            : String(request.error),
      });
    })
    .handler(async (event) => {
      const changes = rangeChangesOf(event);
      if (changes.length > 0) {
        const result = await recordRangeChanges(deps, changes);
        logger.debug('range changes recorded', { changes: changes.length, ...result });
      }
      return { state: {} };
    });
}
