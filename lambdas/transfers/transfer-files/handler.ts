import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Deps } from '#core/deps.ts';
import { fieldIssues } from '#core/errors.ts';
import { TransferMessageSchema } from '#core/transfers/rule.ts';
import { transferFile } from '#core/transfers/transfer-file.ts';
import { count, logger, powertools } from '../../runtime/powertools.ts';

export type TransferFilesDeps = Pick<
  Deps,
  'catalog' | 'rules' | 'transferQueue' | 'transfers' | 'copier' | 'clock'
>;

/**
 * The transfer service (FTS's role): each message of the transfers queue copies one file to one
 * endpoint and verifies it (core/transfers/transfer-file.ts). Messages are independent: one that
 * throws (S3 or DynamoDB unreachable) is reported as a batch item failure and comes back after the
 * visibility timeout, the others are deleted. A message that does not parse is dropped, logged.
 */
export function createHandler(deps: TransferFilesDeps) {
  return powertools(middy<SQSEvent, SQSBatchResponse>()).handler(async (event) => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        body = undefined;
      }
      const parsed = TransferMessageSchema.safeParse(body);
      if (!parsed.success) {
        logger.error('transfer message dropped: not a transfer message', {
          messageId: record.messageId,
          issues: fieldIssues(parsed.error.issues, 'message'),
        });
        continue;
      }
      const message = parsed.data;
      const keys = {
        ruleId: message.ruleId,
        did: `${message.scope}:${message.name}`,
        endpointId: message.endpointId,
      };
      try {
        const outcome = await transferFile(deps, message);
        if (outcome.outcome === 'copied') {
          count('FilesTransferred');
          logger.info('file transferred', { ...keys, attempt: message.attempt, bytes: outcome.bytes });
        } else if (outcome.outcome === 'retrying') {
          count('TransferAttemptsFailed');
          logger.warn('transfer attempt failed; tried again', { ...keys, ...outcome });
        } else if (outcome.outcome === 'failed') {
          count('TransferAttemptsFailed');
          count('TransfersFailed');
          logger.error('transfer given up', { ...keys, attempt: message.attempt, reason: outcome.reason });
        } else {
          logger.debug('transfer message skipped', { ...keys, reason: outcome.reason });
        }
      } catch (error) {
        logger.warn('transfer message failed; it comes back', {
          ...keys,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  });
}
