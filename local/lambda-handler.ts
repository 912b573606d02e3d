import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * A Lambda handler module's `handler` export as the local stack calls it. The event type is left
 * open on purpose (method syntax keeps parameters bivariant), so every handler — API, workflow or
 * scheduled, middy-wrapped or plain — fits one map.
 */
export type LambdaHandler = {
  handle(event: unknown, context: Context): unknown;
}['handle'];

/** Handlers by function name (`submit-task`, `split-task`, …). */
export type HandlerMap = Readonly<Record<string, LambdaHandler>>;

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';

/** Lambda's default timeout is not enforced locally; the context reports a generous budget. */
const REMAINING_MS = 15 * 60 * 1000;

/** A minimal Lambda context object for an in-process invocation of `functionName`. */
export function lambdaContext(functionName: string): Context {
  const started = Date.now();
  const fail = (): void => {
    throw new Error('callback-style handlers are not supported by the local stack');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, REMAINING_MS - (Date.now() - started)),
    done: fail,
    fail,
    succeed: fail,
  };
}

/** Calls a handler in-process the way the Lambda runtime does (async handlers only). */
export async function invokeHandler(
  handler: LambdaHandler,
  functionName: string,
  event: unknown,
): Promise<unknown> {
  return await handler(event, lambdaContext(functionName));
}
