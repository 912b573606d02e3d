import middy from '@middy/core';
import type { z } from 'zod';
import { fieldIssues, ValidationError } from '#core/errors.ts';
import { createLogger } from '#platform/logger.ts';

const logger = createLogger({ base: { service: 'workflow' } });

/**
 * A workflow step or scheduled function: validate the input (Step Functions task input is a
 * boundary too), run one use case, return its result. Errors keep their `name`, which the
 * state machine's Retry/Catch match on.
 */
export function workflowHandler<I, R>(name: string, input: z.ZodType<I>, run: (input: I) => Promise<R>) {
  return middy<unknown, R>()
    .onError(async (request) => {
      const error = request.error;
      logger.error('step failed', {
        step: name,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    })
    .handler(async (event) => {
      const parsed = input.safeParse(event);
      if (!parsed.success)
        throw new ValidationError(`invalid ${name} input`, fieldIssues(parsed.error.issues, 'input'));
      return run(parsed.data);
    });
}
