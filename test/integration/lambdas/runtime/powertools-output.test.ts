/**
 * What operators get from a function: JSON log lines with the level, the request id and the log
 * keys of the request, and metric lines in Embedded Metric Format in the Gluon namespace; and, when
 * invocations share a process (the local stack), each keeps its own keys.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { httpHandler } from '#lambdas/http/http-handler.ts';
import { workflowHandler } from '#lambdas/http/workflow-handler.ts';
import { count, countBy, gaugeBySite, logger } from '#lambdas/runtime/powertools.ts';
import { invokeHandler, type LambdaHandler } from '#local/lambda-handler.ts';
import { loggedBytes, setDefaultLogSink } from '#platform/logger.ts';
import { httpEvent, lambdaContext } from '#test/support/handler-harness.ts';

let lines: Array<Record<string, unknown>>;
let raw: string;

beforeEach(() => {
  lines = [];
  raw = '';
  setDefaultLogSink((line) => {
    raw += line;
    for (const text of line.split('\n').filter(Boolean))
      lines.push(JSON.parse(text) as Record<string, unknown>);
  });
});
afterEach(() => {
  setDefaultLogSink(undefined);
});

const logs = () => lines.filter((l) => l._aws === undefined);
const emf = () => lines.filter((l) => l._aws !== undefined);

/** getTask's route, with a body of our own: the wrapper is what is under test. */
function taskHandler(onRun: () => Promise<void> = async () => {}) {
  return httpHandler('getTask', async ({ params }) => {
    // After the wait: an invocation that started meanwhile must not have changed this one's keys.
    await onRun();
    logger.info('reading the task');
    count('JobsStarted');
    return { taskId: params.taskId } as never;
  });
}

const taskEvent = (taskId: string) =>
  httpEvent({ method: 'GET', path: '/tasks/{taskId}', pathParameters: { taskId }, scopes: ['compute.read'] });

describe('Powertools in the HTTP wrapper', () => {
  it('writes JSON log lines with the level, the request id and taskId, and an EMF line in the Gluon namespace, all counted', async () => {
    const before = loggedBytes();
    const context = lambdaContext('get-task');
    const reply = await taskHandler()(taskEvent('t-abcdefgh'), context);
    expect(reply.statusCode).toBe(200);
    const [line] = logs();
    expect(line).toMatchObject({
      level: 'INFO',
      message: 'reading the task',
      service: 'gluon',
      function_name: 'get-task',
      function_request_id: context.awsRequestId,
      operation: 'getTask',
      taskId: 't-abcdefgh',
    });
    const [metric] = emf();
    expect(metric).toMatchObject({
      _aws: {
        CloudWatchMetrics: [{ Namespace: 'Gluon', Metrics: [{ Name: 'JobsStarted', Unit: 'Count' }] }],
      },
      JobsStarted: 1,
    });
    // No id, nor Powertools' `service`, becomes a dimension.
    expect(metric).not.toHaveProperty('service');
    expect(loggedBytes() - before).toBe(Buffer.byteLength(raw));
  });

  it('logs a refused request with its keys (a bad path is a 400 naming the field)', async () => {
    const reply = await taskHandler()(taskEvent('nope'), lambdaContext('get-task'));
    expect(reply.statusCode).toBe(400);
    expect(emf()).toEqual([]);
    // debug is below LOG_LEVEL (INFO): nothing written for an ordinary 400.
    expect(logs()).toEqual([]);
  });

  it('keeps the keys of invocations that run at once in one process apart (the local stack)', async () => {
    // The local runner (lambda-handler.ts) sets AWS_LAMBDA_MAX_CONCURRENCY when it loads.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handler = taskHandler(() => gate) as unknown as LambdaHandler;
    const first = invokeHandler(handler, 'get-task', taskEvent('t-first0001'));
    const second = invokeHandler(handler, 'get-task', taskEvent('t-second001'));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await Promise.all([first, second]);
    logger.info('after both');
    const byTask = logs().map((l) => [l.message, l.taskId ?? null]);
    expect(byTask).toEqual(
      expect.arrayContaining([
        ['reading the task', 't-first0001'],
        ['reading the task', 't-second001'],
      ]),
    );
    // Keys appended in an invocation end with it.
    expect(byTask.at(-1)).toEqual(['after both', null]);
    const requestIds = new Set(
      logs()
        .slice(0, 2)
        .map((l) => l.function_request_id),
    );
    expect(requestIds.size).toBe(2);
    expect(emf().reduce((n, l) => n + Number(l.JobsStarted ?? 0), 0)).toBe(2);
  });
});

describe('metrics counted by a dimension', () => {
  it('writes one counted EMF line per value, with that dimension only (no service), zero counts left out but zero depths kept', () => {
    const before = loggedBytes();
    countBy('JobsEnded', 'outcome', { finished: 3, failed: 0, lost: 1 });
    gaugeBySite('QueueDepth', { cern: 0 });
    expect(emf().map((l) => [l._aws, l.outcome ?? l.siteId, l.JobsEnded ?? l.QueueDepth])).toEqual([
      [
        expect.objectContaining({
          CloudWatchMetrics: [expect.objectContaining({ Namespace: 'Gluon', Dimensions: [['outcome']] })],
        }),
        'finished',
        3,
      ],
      [expect.anything(), 'lost', 1],
      [
        expect.objectContaining({
          CloudWatchMetrics: [expect.objectContaining({ Dimensions: [['siteId']] })],
        }),
        'cern',
        0,
      ],
    ]);
    for (const line of emf()) expect(line).not.toHaveProperty('service');
    expect(loggedBytes() - before).toBe(Buffer.byteLength(raw));
  });
});

describe('Powertools in the workflow wrapper', () => {
  it('logs a failed step with its name and taskId at ERROR', async () => {
    const handler = workflowHandler('split-task', z.object({ taskId: z.string() }), async () => {
      throw new Error('boom');
    });
    await expect(handler({ taskId: 't-abcdefgh' }, lambdaContext('split-task'))).rejects.toThrow('boom');
    expect(logs()).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'step failed',
        step: 'split-task',
        taskId: 't-abcdefgh',
      }),
    ]);
  });
});
