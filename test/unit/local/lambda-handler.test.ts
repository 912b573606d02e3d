import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  functionInvocations,
  invokeHandler,
  lambdaContext,
  resetFunctionInvocations,
} from '#local/lambda-handler.ts';

beforeEach(() => resetFunctionInvocations());

afterEach(() => vi.useRealTimers());

describe('lambdaContext', () => {
  it('names the function as Lambda does, with a request id of its own per invocation', () => {
    const a = lambdaContext('claim-job');
    const b = lambdaContext('claim-job');
    expect(a).toMatchObject({
      functionName: 'claim-job',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:claim-job',
      logGroupName: '/aws/lambda/claim-job',
      callbackWaitsForEmptyEventLoop: false,
    });
    expect(a.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.awsRequestId).not.toBe(b.awsRequestId);
  });

  it('counts the remaining time down from fifteen minutes', () => {
    vi.useFakeTimers();
    const context = lambdaContext('split-task');
    expect(context.getRemainingTimeInMillis()).toBe(15 * 60 * 1000);
    vi.advanceTimersByTime(60_000);
    expect(context.getRemainingTimeInMillis()).toBe(14 * 60 * 1000);
    vi.advanceTimersByTime(60 * 60 * 1000);
    expect(context.getRemainingTimeInMillis()).toBe(0);
  });

  it('refuses callback-style completion', () => {
    expect(() => lambdaContext('x').succeed('done')).toThrow(/callback-style handlers are not supported/);
  });
});

describe('invokeHandler', () => {
  it('hands the event and a context for the function to the handler, and returns its answer', async () => {
    let seen: [unknown, Context] | undefined;
    const answer = await invokeHandler(
      async (event, context) => {
        seen = [event, context];
        return { statusCode: 200 };
      },
      'get-task',
      { rawPath: '/tasks/t-1' },
    );
    expect(answer).toEqual({ statusCode: 200 });
    expect(seen?.[0]).toEqual({ rawPath: '/tasks/t-1' });
    expect(seen?.[1].functionName).toBe('get-task');
  });

  it('meters each invocation per function, billing whole milliseconds and at least one', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const slow = async () => {
      vi.advanceTimersByTime(25.2);
    };
    await invokeHandler(slow, 'split-task', {});
    await invokeHandler(async () => {}, 'split-task', {});
    await invokeHandler(async () => {}, 'get-task', {});
    expect(functionInvocations()).toEqual({
      'split-task': { count: 2, billedMs: 26 + 1 },
      'get-task': { count: 1, billedMs: 1 },
    });
  });

  it('meters an invocation that throws, and lets the error through', async () => {
    await expect(
      invokeHandler(
        async () => {
          throw new Error('table missing');
        },
        'reap-pilots',
        {},
      ),
    ).rejects.toThrow('table missing');
    expect(functionInvocations()['reap-pilots']?.count).toBe(1);
  });

  it('gives copies of the meters, and forgets them when reset', async () => {
    await invokeHandler(async () => {}, 'list-jobs', {});
    const meters = functionInvocations();
    (meters['list-jobs'] as { count: number }).count = 99;
    expect(functionInvocations()['list-jobs']?.count).toBe(1);
    resetFunctionInvocations();
    expect(functionInvocations()).toEqual({});
  });
});
