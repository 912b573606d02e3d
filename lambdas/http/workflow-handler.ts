import middy from '@middy/core';
import type { z } from 'zod';
import { fieldIssues, ValidationError } from '#core/errors.ts';
import { logKeysOf } from '../runtime/log-keys.ts';
import { logger, powertools } from '../runtime/powertools.ts';

/**
 * A workflow step or scheduled function: validate the input (Step Functions task input is a
 * boundary too), run one use case, return its result. Errors keep their `name`, which the
 * state machine's Retry/Catch match on.
 */
export function workflowHandler<I, R>(name: string, input: z.ZodType<I>, run: (input: I) => Promise<R>) {
  return powertools(middy<unknown, R>())
    .onError(async (request) => {
      const error = request.error;
      logger.error('step failed', {
        step: name,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    })
    .handler(async (event) => {
      logger.appendKeys({ step: name });
      const parsed = input.safeParse(event);
      if (!parsed.success)
        throw new ValidationError(`invalid ${name} input`, fieldIssues(parsed.error.issues, 'input'));
      logger.appendKeys({ ...logKeysOf([parsed.data]) });
      return run(parsed.data);
    });
}
