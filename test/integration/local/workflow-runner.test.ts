import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SfnWorkflowEngine } from '#adapters/sfn/sfn-workflow-engine.ts';
import { TransientError } from '#core/errors.ts';
import type { HandlerMap } from '#local/lambda-handler.ts';
import { silentLog } from '#local/log.ts';
import { type SfnEndpoint, startSfnEndpoint } from '#local/sfn-endpoint.ts';
import { startWorkflowRunner, type WorkflowRunner } from '#local/workflow-runner.ts';

const DEFINITION = fileURLToPath(new URL('../../fixtures/local/workflow.asl.json', import.meta.url));
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:test-flow';

interface Input {
  name: string;
  steps: number;
  mode: 'ok' | 'transient-once' | 'transient-always' | 'fatal';
}

/** Test handlers for the fixture workflow; they record what they were called with. */
function testFunctions() {
  const calls: Record<string, unknown[]> = {};
  const tokens = new Map<string, string>();
  const record = (fn: string, event: unknown): void => {
    calls[fn] ??= [];
    calls[fn].push(event);
  };
  const handlers: HandlerMap = {
    prepare: async (event) => {
      record('prepare', event);
      const { name, steps, mode } = event as Input;
      const tries = calls.prepare?.filter((e) => (e as Input).name === name).length ?? 0;
      if (mode === 'transient-always' || (mode === 'transient-once' && tries === 1)) {
        throw new TransientError(`store busy for ${name}`);
      }
      if (mode === 'fatal') {
        const error = new Error(`bad spec for ${name}`);
        error.name = 'FatalError';
        throw error;
      }
      return { remaining: steps, done: false };
    },
    step: async (event) => {
      record('step', event);
      const { remaining } = event as { remaining: number };
      return { remaining: remaining - 1, done: remaining - 1 <= 0 };
    },
    'wait-for-callback': async (event) => {
      record('wait-for-callback', event);
      const { name, taskToken } = event as { name: string; taskToken: string };
      tokens.set(name, taskToken);
      return { stored: true };
    },
    finish: async (event) => {
      record('finish', event);
      return { finished: (event as { name: string }).name };
    },
    'record-failure': async (event) => {
      record('record-failure', event);
      return { failed: true };
    },
  };
  return { handlers, calls, tokens };
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let stateDir: string;
let runner: WorkflowRunner | undefined;
let endpoint: SfnEndpoint | undefined;
let sfn: SFNClient;
let functions: ReturnType<typeof testFunctions>;

async function startRunner(fns = functions): Promise<void> {
  runner = await startWorkflowRunner({
    stateDir,
    definitionFile: DEFINITION,
    stateMachineArn: STATE_MACHINE_ARN,
    handlers: fns.handlers,
    retryIntervalMs: 10,
    resume: false,
    log: silentLog,
  });
  endpoint = await startSfnEndpoint({ port: 0, runner, log: silentLog });
  await runner.resume();
  sfn?.destroy();
  sfn = new SFNClient({
    endpoint: endpoint.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

async function stopRunner(): Promise<void> {
  await endpoint?.stop();
  await runner?.stop();
  endpoint = undefined;
  runner = undefined;
}

async function start(input: Input): Promise<string> {
  const out = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: STATE_MACHINE_ARN,
      name: input.name,
      input: JSON.stringify(input),
    }),
  );
  expect(out.executionArn).toMatch(/^arn:aws:states:us-east-1:000000000000:execution:test-flow:/);
  return out.executionArn as string;
}

async function finished(executionArn: string): Promise<DescribeExecutionCommandOutput> {
  return until(`end of ${executionArn}`, async () => {
    const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return out.status === 'RUNNING' ? undefined : out;
  });
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-sfn-'));
  functions = testFunctions();
  await startRunner();
});

afterEach(async () => {
  await stopRunner();
  sfn?.destroy();
  await rm(stateDir, { recursive: true, force: true });
});

describe('local workflow runner', () => {
  it('runs Task, Choice loop and a waitForTaskToken state released by SendTaskSuccess', async () => {
    const executionArn = await start({ name: 'happy', steps: 3, mode: 'transient-once' });
    const token = await until('the task token', () => functions.tokens.get('happy'));
    const waitEvent = functions.calls['wait-for-callback']?.[0];
    expect(waitEvent).toEqual({ name: 'happy', taskToken: token, execution: 'happy' });

    // Still waiting until the callback comes.
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ released: 42 }) }),
    );

    const done = await finished(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.startDate).toBeInstanceOf(Date);
    expect(done.stopDate).toBeInstanceOf(Date);
    const output = JSON.parse(done.output ?? 'null');
    expect(output).toMatchObject({
      name: 'happy',
      progress: { remaining: 0, done: true },
      callback: { released: 42 },
      result: { finished: 'happy' },
    });
    // TransientError once, then retried: two calls of Prepare; three loop iterations of Step.
    expect(functions.calls.prepare).toHaveLength(2);
    expect(functions.calls.step).toHaveLength(3);
    expect(functions.calls['record-failure']).toBeUndefined();
  });

  it('routes a non-retried error to the Catch state with Error and a Lambda-style Cause', async () => {
    const executionArn = await start({ name: 'fatal', steps: 1, mode: 'fatal' });
    const done = await finished(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(functions.calls.prepare).toHaveLength(1);
    const [failure] = (functions.calls['record-failure'] ?? []) as Array<{
      error: { Error: string; Cause: string };
    }>;
    expect(failure?.error.Error).toBe('FatalError');
    expect(JSON.parse(failure?.error.Cause ?? '{}')).toMatchObject({
      errorType: 'FatalError',
      errorMessage: 'bad spec for fatal',
    });
  });

  it('gives up retrying after MaxAttempts and then catches', async () => {
    const executionArn = await start({ name: 'always', steps: 1, mode: 'transient-always' });
    expect((await finished(executionArn)).status).toBe('SUCCEEDED');
    expect(functions.calls.prepare).toHaveLength(3);
    const [failure] = (functions.calls['record-failure'] ?? []) as Array<{ error: { Error: string } }>;
    expect(failure?.error.Error).toBe('TransientError');
  });

  it('fails the waiting state on SendTaskFailure, with the error name Catch matches on', async () => {
    const executionArn = await start({ name: 'refused', steps: 1, mode: 'ok' });
    const token = await until('the task token', () => functions.tokens.get('refused'));
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: token, error: 'JobsFailed', cause: 'all jobs failed' }),
    );
    expect((await finished(executionArn)).status).toBe('SUCCEEDED');
    const [failure] = (functions.calls['record-failure'] ?? []) as Array<{ error: unknown }>;
    expect(failure?.error).toEqual({ Error: 'JobsFailed', Cause: 'all jobs failed' });
    expect(functions.calls.finish).toBeUndefined();
  });

  it('marks an execution FAILED when an error is not caught', async () => {
    const broken = testFunctions();
    broken.handlers = {
      ...broken.handlers,
      step: async () => {
        throw new RangeError('step went wrong');
      },
    };
    await stopRunner();
    await startRunner(broken);
    const executionArn = await start({ name: 'uncaught', steps: 1, mode: 'ok' });
    const done = await finished(executionArn);
    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('RangeError');
    expect(JSON.parse(done.cause ?? '{}')).toMatchObject({ errorMessage: 'step went wrong' });
  });

  it('answers AWS errors: ExecutionAlreadyExists, TaskDoesNotExist, InvalidToken, ExecutionDoesNotExist', async () => {
    const input: Input = { name: 'twice', steps: 1, mode: 'ok' };
    const first = await start(input);
    // Same name and input while running: idempotent, as in Step Functions.
    expect(await start(input)).toBe(first);
    await expect(
      sfn.send(
        new StartExecutionCommand({
          stateMachineArn: STATE_MACHINE_ARN,
          name: 'twice',
          input: JSON.stringify({ ...input, steps: 2 }),
        }),
      ),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists', $metadata: { httpStatusCode: 400 } });

    const token = await until('the task token', () => functions.tokens.get('twice'));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await finished(first);
    // A used token is gone; a made-up one is malformed.
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
    ).rejects.toMatchObject({
      name: 'TaskDoesNotExist',
    });
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: 'nope', output: '{}' })),
    ).rejects.toMatchObject({
      name: 'InvalidToken',
    });
    // A finished execution's name cannot be used again.
    await expect(start(input)).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: `${first}-other` })),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
  });

  it('refuses output that is not JSON and keeps the state waiting', async () => {
    const executionArn = await start({ name: 'badjson', steps: 1, mode: 'ok' });
    const token = await until('the task token', () => functions.tokens.get('badjson'));
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{oops' })),
    ).rejects.toMatchObject({
      name: 'InvalidOutput',
    });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '"fine"' }));
    expect((await finished(executionArn)).status).toBe('SUCCEEDED');
  });

  it('works with the SfnWorkflowEngine adapter the functions use', async () => {
    const engine = new SfnWorkflowEngine(sfn, STATE_MACHINE_ARN, () => {});
    // startTask is idempotent: the execution name is the task id.
    await expect(engine.startTask('t-abcdef123')).resolves.toBeUndefined();
    await expect(engine.startTask('t-abcdef123')).resolves.toBeUndefined();
    const executionArn = `arn:aws:states:us-east-1:000000000000:execution:test-flow:t-abcdef123`;
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.name).toBe('t-abcdef123');
    expect(JSON.parse(described.input ?? '{}')).toEqual({ taskId: 't-abcdef123' });
    // A token that is gone is not an error for the adapter.
    await expect(
      engine.releaseWait('A'.repeat(128), { taskId: 't-abcdef123', sweep: false }),
    ).resolves.toBeUndefined();
    // A waiting state gets the outcome as its output.
    const waiting = await start({ name: 'released', steps: 1, mode: 'ok' });
    const token = await until('the task token', () => functions.tokens.get('released'));
    await engine.releaseWait(token, { taskId: 't-abcdef123', sweep: true });
    const done = await finished(waiting);
    expect(JSON.parse(done.output ?? '{}')).toMatchObject({
      callback: { taskId: 't-abcdef123', sweep: true },
    });
  });

  it('starts an execution again from the beginning after a restart, and it completes', async () => {
    const executionArn = await start({ name: 'survivor', steps: 2, mode: 'ok' });
    const firstToken = await until('the first task token', () => functions.tokens.get('survivor'));
    expect(functions.calls.prepare).toHaveLength(1);

    await stopRunner();
    const file = JSON.parse(await readFile(join(stateDir, 'executions.json'), 'utf8')) as {
      executions: Array<{ executionArn: string; status: string; input: string }>;
    };
    expect(file.executions).toEqual([
      expect.objectContaining({
        executionArn,
        status: 'RUNNING',
        input: expect.stringContaining('survivor'),
      }),
    ]);

    const again = testFunctions();
    await startRunner(again);
    const secondToken = await until('the task token after the restart', () => again.tokens.get('survivor'));
    expect(secondToken).not.toBe(firstToken);
    expect(again.calls.prepare).toHaveLength(1);
    expect(again.calls.step).toHaveLength(2);

    // The old token died with the old runner.
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: firstToken, output: '{}' })),
    ).rejects.toMatchObject({ name: 'TaskDoesNotExist' });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: secondToken, output: '{"after":"restart"}' }));
    const done = await finished(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '{}')).toMatchObject({ callback: { after: 'restart' } });
    expect(runner?.describeExecution(executionArn).restarts).toBe(1);
    // The old runner's abandoned execution did not go on to Finish.
    expect(functions.calls.finish).toBeUndefined();
  });
});
