import { randomUUID } from 'node:crypto';
// The Lambda Node.js runtime's per-invocation store (Powertools' dependency): Powertools keeps an
// invocation's log keys and metrics in it when invocations share a process, as they do here.
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';

/**
 * A Lambda handler module's `handler` export as the local stack calls it. The event type is left
 * open on purpose (method syntax keeps parameters bivariant), so every handler — API, workflow or
 * scheduled, middy-wrapped or plain — fits one map.
 */
export type LambdaHandler = {
  handle(event: unknown, context: Context): unknown;
}['handle'];

/**
 * This process plays a Lambda execution environment that runs many invocations at once, as a
 * managed instance does: AWS_LAMBDA_MAX_CONCURRENCY makes Powertools keep each invocation's state
 * in the invoke store, and the store must be the multi-context one. It is made here, when this
 * module loads, before any AWS SDK call could make (and memoise) the single-context one.
 */
process.env.AWS_LAMBDA_MAX_CONCURRENCY ??= '64';
const invokeStore = await InvokeStore.getInstanceAsync(true);

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

/**
 * Calls a handler in-process the way the Lambda runtime does (async handlers only), and meters it.
 * Each invocation runs in its own context of the invoke store, so log keys, the Lambda context and
 * metrics never leak from one invocation to another.
 */
export async function invokeHandler(
  handler: LambdaHandler,
  functionName: string,
  event: unknown,
): Promise<unknown> {
  const started = performance.now();
  const context = lambdaContext(functionName);
  try {
    return await invokeStore.run({ [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId }, () =>
      handler(event, context),
    );
  } finally {
    const meter = invocations.get(functionName) ?? { count: 0, billedMs: 0 };
    meter.count += 1;
    meter.billedMs += Math.max(1, Math.ceil(performance.now() - started));
    invocations.set(functionName, meter);
  }
}
