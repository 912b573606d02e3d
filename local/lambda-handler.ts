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

/** Invocations and their summed duration per function, as Lambda would bill them (1 ms granularity). */
const invocations = new Map<string, { count: number; billedMs: number }>();

export function functionInvocations(): Record<string, { count: number; billedMs: number }> {
  return Object.fromEntries([...invocations].map(([name, v]) => [name, { ...v }]));
}

export function resetFunctionInvocations(): void {
  invocations.clear();
}

/** Calls a handler in-process the way the Lambda runtime does (async handlers only), and meters it. */
export async function invokeHandler(
  handler: LambdaHandler,
  functionName: string,
  event: unknown,
): Promise<unknown> {
  const started = performance.now();
  try {
    return await handler(event, lambdaContext(functionName));
  } finally {
    const meter = invocations.get(functionName) ?? { count: 0, billedMs: 0 };
    meter.count += 1;
    meter.billedMs += Math.max(1, Math.ceil(performance.now() - started));
    invocations.set(functionName, meter);
  }
}
