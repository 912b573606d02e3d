import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ExecutionAbortedError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
} from 'aws-local-stepfunctions';
import { type ExecutionRecord, ExecutionStore } from './execution-store.ts';
import { type HandlerMap, invokeHandler } from './lambda-handler.ts';
import { consoleLog, type Log } from './log.ts';
import { TaskTokenRegistry } from './task-token-registry.ts';
import { loadWorkflowDefinition, type TaskBinding } from './workflow-definition.ts';
import { WorkflowServiceError } from './workflow-service-error.ts';

/**
 * Step Functions on one machine: runs an ASL file with `aws-local-stepfunctions`, every Task state
 * calling its Lambda handler in-process, `.waitForTaskToken` states waiting on our own token
 * registry, executions persisted in `<stateDir>/executions.json` and started again from the
 * beginning when the runner starts (the workflow's steps are idempotent).
 */
export interface WorkflowRunnerOptions {
  /** Holds `executions.json`. */
  stateDir: string;
  /** The ASL file, as deployed (`${XxxFunctionArn}` substitutions). */
  definitionFile: string;
  stateMachineArn: string;
  /** Handlers by function name; every Task state's function must be there. */
  handlers: HandlerMap;
  /** Values of substitution variables other than `${XxxFunctionArn}`. */
  substitutions?: Record<string, string>;
  /** Pause before every retry in ms instead of IntervalSeconds/BackoffRate (tests). */
  retryIntervalMs?: number;
  /** Timeout of Task states that set none (default: the longest a timer can wait, ~24 days). */
  defaultTaskTimeoutSec?: number;
  /**
   * Start the executions left RUNNING by the last runner right away (default true). With false,
   * call resume() once whatever the handlers need (the Step Functions endpoint) is up.
   */
  resume?: boolean;
  log?: Log;
}

export interface StartExecutionRequest {
  name?: string;
  /** JSON text (default `{}`). */
  input?: string;
}

export interface WorkflowRunner {
  readonly stateMachineArn: string;
  startExecution(request: StartExecutionRequest): Promise<{ executionArn: string; startDate: Date }>;
  /** The execution; WorkflowServiceError `ExecutionDoesNotExist` if unknown. */
  describeExecution(executionArn: string): ExecutionRecord;
  listExecutions(): ExecutionRecord[];
  stopExecution(
    executionArn: string,
    reason?: { error?: string; cause?: string },
  ): Promise<{ stopDate: Date }>;
  sendTaskSuccess(taskToken: string, output: string): void;
  sendTaskFailure(taskToken: string, error?: string, cause?: string): void;
  /** Checks that a token is awaited (heartbeat timeouts are not enforced locally). */
  sendTaskHeartbeat(taskToken: string): void;
  /** Resolves with the record once the execution is no longer RUNNING (rejects after `timeoutMs`). */
  waitForExecution(executionArn: string, timeoutMs?: number): Promise<ExecutionRecord>;
  /** Starts again, from the beginning, every execution left RUNNING by an earlier runner. */
  resume(): Promise<void>;
  /** Tokens currently awaited (diagnostics, tests). */
  pendingTokens(): Array<{ executionArn: string; stateName: string }>;
  /**
   * The history events Step Functions would have recorded for the execution so far (started and
   * ended, state entered and exited, and per Task state its scheduled/started/succeeded or failed
   * events, plus submitted for a task token): the figure held against the 25,000-event limit.
   */
  historyEvents(name: string): number;
  /** The state transitions of the execution so far (what Step Functions Standard bills). */
  stateTransitions(name: string): number;
  /**
   * Stops running executions without finishing them: they stay RUNNING in the file and start
   * again with the next runner. Waits (bounded) for handler calls in progress.
   */
  stop(): Promise<void>;
}

/** The interpreter's JSON value type (not exported by the package under its own name). */
type LocalTaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type InterpreterJson = Awaited<ReturnType<LocalTaskHandlers[string]>>;

const TOKEN_PLACEHOLDER = '__gluon_local_task_token__';
const MAX_STATE_DATA_BYTES = 256 * 1024;
const STOP_GRACE_MS = 5_000;
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** Thrown into a state of an execution the runner gave up on; neither retried nor caught. */
class ExecutionAbandonedError extends Error {
  override readonly name = 'Local.ExecutionAbandoned';
  readonly isRetryable = false;
  readonly isCatchable = false;
}

/** A Lambda function error as Step Functions reports it: Error = errorType, Cause = the JSON payload. */
class LambdaFunctionError extends Error {
  constructor(error: unknown) {
    const errorType = error instanceof Error ? error.name : 'Error';
    const errorMessage = error instanceof Error ? error.message : String(error);
    const trace = error instanceof Error && error.stack !== undefined ? error.stack.split('\n') : [];
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
  }
}

/** States.DataLimitExceeded: a terminal error, as in Step Functions (States.ALL does not catch it). */
class DataLimitExceededError extends Error {
  override readonly name = 'States.DataLimitExceeded';
  readonly isRetryable = false;
  readonly isCatchable = false;
}

interface ActiveExecution {
  abandoned: boolean;
  abort(): void;
}

export async function startWorkflowRunner(options: WorkflowRunnerOptions): Promise<WorkflowRunner> {
  const log = options.log ?? consoleLog;
  const arn = parseStateMachineArn(options.stateMachineArn);
  const { definition, tasks } = await loadWorkflowDefinition(options.definitionFile, {
    region: arn.region,
    accountId: arn.accountId,
    substitutions: options.substitutions,
    defaultTaskTimeoutSec: options.defaultTaskTimeoutSec,
  });
  const missing = [...new Set([...tasks.values()].map((t) => t.functionName))].filter(
    (fn) => options.handlers[fn] === undefined,
  );
  if (missing.length > 0) {
    throw new Error(`${options.definitionFile}: no handler for function(s) ${missing.join(', ')}`);
  }
  const machine = new StateMachine(definition);
  const store = await ExecutionStore.open(options.stateDir);
  const tokens = new TaskTokenRegistry();
  const active = new Map<string, ActiveExecution>();
  const handlerCalls = new Set<Promise<unknown>>();
  const finished = new EventEmitter();
  finished.setMaxListeners(0);
  let stopped = false;

  const retryIntervalOverrides =
    options.retryIntervalMs === undefined
      ? undefined
      : Object.fromEntries([...tasks.keys()].map((name) => [name, options.retryIntervalMs as number]));

  async function callHandler(binding: TaskBinding, event: unknown): Promise<unknown> {
    const handler = options.handlers[binding.functionName];
    if (handler === undefined) throw new Error(`no handler for ${binding.functionName}`);
    const call = invokeHandler(handler, binding.functionName, event);
    handlerCalls.add(call);
    try {
      return toJson(await call, binding.stateName);
    } catch (error) {
      if (error instanceof DataLimitExceededError) throw error;
      throw new LambdaFunctionError(error);
    } finally {
      handlerCalls.delete(call);
    }
  }

  async function runTask(
    binding: TaskBinding,
    input: unknown,
    executionArn: string,
    execution: ActiveExecution,
  ): Promise<unknown> {
    if (execution.abandoned) throw new ExecutionAbandonedError('execution stopped');
    if (binding.integration === 'lambda') return callHandler(binding, input);
    const payload = isRecord(input) && 'Payload' in input ? input.Payload : {};
    if (binding.integration === 'lambda-invoke') {
      const result = await callHandler(binding, payload);
      return { ExecutedVersion: '$LATEST', Payload: result, StatusCode: 200 };
    }
    const { token, wait } = tokens.issue(executionArn, binding.stateName);
    try {
      await callHandler(binding, replacePlaceholder(payload, token));
    } catch (error) {
      tokens.discard(token);
      throw error;
    }
    log('debug', 'workflow waits for a task token', { executionArn, state: binding.stateName });
    return wait;
  }

  const history = new Map<string, number>();
  const transitions = new Map<string, number>();

  function launch(record: ExecutionRecord): void {
    const execution: ActiveExecution = { abandoned: false, abort: () => {} };
    const taskResourceLocalHandlers = Object.fromEntries(
      [...tasks.values()].map((binding) => [
        binding.stateName,
        (input: unknown) =>
          runTask(binding, input, record.executionArn, execution) as Promise<InterpreterJson>,
      ]),
    );
    const run = machine.run(JSON.parse(record.input), {
      overrides: { taskResourceLocalHandlers, retryIntervalOverrides },
      noThrowOnAbort: true,
      context: {
        Execution: { Id: record.executionArn, Name: record.name, RoleArn: arn.roleArn },
        StateMachine: { Id: options.stateMachineArn, Name: arn.name },
        Task: { Token: TOKEN_PLACEHOLDER },
      },
    });
    execution.abort = run.abort;
    active.set(record.executionArn, execution);
    history.set(record.name, 0);
    void countHistory(record.name, run.eventLogs);
    run.result.then(
      (output) => {
        if (execution.abandoned) return;
        void finish(record.executionArn, { status: 'SUCCEEDED', output: JSON.stringify(output ?? null) });
      },
      (error: unknown) => {
        if (execution.abandoned || error instanceof ExecutionAbortedError) return;
        if (error instanceof ExecutionTimeoutError) {
          void finish(record.executionArn, {
            status: 'TIMED_OUT',
            error: 'States.Timeout',
            cause: 'execution timed out',
          });
          return;
        }
        const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
        void finish(record.executionArn, {
          status: 'FAILED',
          error: cause instanceof Error ? cause.name : 'Error',
          cause: cause instanceof Error ? cause.message : String(cause),
        });
      },
    );
  }

  async function finish(executionArn: string, outcome: Partial<ExecutionRecord>): Promise<void> {
    active.delete(executionArn);
    const record = store.get(executionArn);
    if (record === undefined || stopped) return;
    const done: ExecutionRecord = { ...record, ...outcome, stoppedAt: new Date().toISOString() };
    const level = done.status === 'SUCCEEDED' ? 'info' : 'warn';
    log(level, `workflow execution ${done.status.toLowerCase()}`, {
      name: done.name,
      ...(done.error === undefined ? {} : { error: done.error, cause: done.cause }),
    });
    try {
      await store.put(done);
    } catch (error) {
      log('error', 'cannot record the end of a workflow execution', { executionArn, error });
    }
    finished.emit(executionArn, done);
  }

  /** Step Functions' history events, from the interpreter's event log (see historyEvents). */
  async function countHistory(
    name: string,
    events: AsyncGenerator<{ type: string; state?: { name: string } }>,
  ) {
    const add = (n: number) => history.set(name, (history.get(name) ?? 0) + n);
    try {
      for await (const event of events) {
        const binding = event.state === undefined ? undefined : tasks.get(event.state.name);
        switch (event.type) {
          case 'ExecutionStarted':
          case 'ExecutionSucceeded':
          case 'ExecutionFailed':
          case 'ExecutionTerminated':
          case 'StateExited':
          case 'StateCaught':
            add(1);
            break;
          case 'StateEntered':
            transitions.set(name, (transitions.get(name) ?? 0) + 1);
            // A Task: entered, scheduled, started (and submitted, for a task token); its end below.
            add(
              binding === undefined
                ? 1
                : binding.integration === 'lambda' || binding.integration === 'lambda-invoke'
                  ? 3
                  : 4,
            );
            if (binding !== undefined) add(1);
            break;
          case 'StateRetried':
          case 'StateFailed':
            // The failed attempt, then (for a retry) scheduled and started again.
            add(event.type === 'StateRetried' ? 3 : 1);
            break;
          default:
            add(1);
        }
      }
    } catch {
      // the execution was abandoned: its count stays as it was
    }
  }

  function abandon(executionArn: string): void {
    const execution = active.get(executionArn);
    if (execution === undefined) return;
    execution.abandoned = true;
    active.delete(executionArn);
    tokens.dropExecution(executionArn, new ExecutionAbandonedError('execution stopped'));
    execution.abort();
  }

  const runner: WorkflowRunner = {
    stateMachineArn: options.stateMachineArn,

    historyEvents: (name) => history.get(name) ?? 0,
    stateTransitions: (name) => transitions.get(name) ?? 0,

    async startExecution({ name = randomUUID(), input = '{}' }) {
      if (stopped)
        throw new WorkflowServiceError('ServiceUnavailable', 'the local workflow runner is stopping', 503);
      if (!EXECUTION_NAME.test(name)) {
        throw new WorkflowServiceError('InvalidName', `Invalid Name: '${name}'`);
      }
      try {
        JSON.parse(input);
      } catch {
        throw new WorkflowServiceError(
          'InvalidExecutionInput',
          'Invalid State Machine Execution Input: not JSON',
        );
      }
      if (Buffer.byteLength(input, 'utf8') > MAX_STATE_DATA_BYTES) {
        throw new WorkflowServiceError('InvalidExecutionInput', 'input is longer than 262144 bytes');
      }
      const executionArn = `arn:aws:states:${arn.region}:${arn.accountId}:execution:${arn.name}:${name}`;
      const existing = store.get(executionArn);
      if (existing !== undefined) {
        // As in Step Functions (Standard): the same name and input of a running execution is
        // idempotent; anything else with a used name is refused.
        if (existing.status === 'RUNNING' && existing.input === input) {
          return { executionArn, startDate: new Date(existing.startedAt) };
        }
        throw new WorkflowServiceError(
          'ExecutionAlreadyExists',
          `Execution Already Exists: '${executionArn}'`,
        );
      }
      const record: ExecutionRecord = {
        executionArn,
        stateMachineArn: options.stateMachineArn,
        name,
        input,
        status: 'RUNNING',
        startedAt: new Date().toISOString(),
      };
      await store.put(record);
      log('info', 'workflow execution started', { name });
      launch(record);
      return { executionArn, startDate: new Date(record.startedAt) };
    },

    describeExecution(executionArn) {
      const record = store.get(executionArn);
      if (record === undefined) {
        throw new WorkflowServiceError(
          'ExecutionDoesNotExist',
          `Execution Does Not Exist: '${executionArn}'`,
        );
      }
      return record;
    },

    listExecutions: () => store.list(),

    async stopExecution(executionArn, reason = {}) {
      const record = runner.describeExecution(executionArn);
      if (record.status !== 'RUNNING') return { stopDate: new Date(record.stoppedAt ?? Date.now()) };
      abandon(executionArn);
      const stoppedAt = new Date();
      const done: ExecutionRecord = {
        ...record,
        status: 'ABORTED',
        stoppedAt: stoppedAt.toISOString(),
        ...(reason.error === undefined ? {} : { error: reason.error }),
        ...(reason.cause === undefined ? {} : { cause: reason.cause }),
      };
      await store.put(done);
      log('info', 'workflow execution aborted', { name: record.name });
      finished.emit(executionArn, done);
      return { stopDate: stoppedAt };
    },

    sendTaskSuccess(taskToken, output) {
      tokens.succeed(taskToken, output);
    },

    sendTaskFailure(taskToken, error, cause) {
      tokens.fail(taskToken, error, cause);
    },

    sendTaskHeartbeat(taskToken) {
      tokens.check(taskToken);
    },

    waitForExecution(executionArn, timeoutMs = 60_000) {
      const record = runner.describeExecution(executionArn);
      if (record.status !== 'RUNNING') return Promise.resolve(record);
      return new Promise((resolve, reject) => {
        const onFinish = (done: ExecutionRecord): void => {
          clearTimeout(timer);
          resolve(done);
        };
        const timer = setTimeout(() => {
          finished.off(executionArn, onFinish);
          reject(new Error(`execution ${executionArn} still RUNNING after ${timeoutMs} ms`));
        }, timeoutMs);
        finished.once(executionArn, onFinish);
      });
    },

    async resume() {
      for (const record of store.running()) {
        if (stopped || active.has(record.executionArn)) continue;
        const again: ExecutionRecord = { ...record, restarts: (record.restarts ?? 0) + 1 };
        await store.put(again);
        log('info', 'workflow execution started again after a restart', {
          name: record.name,
          restarts: again.restarts,
        });
        launch(again);
      }
    },

    pendingTokens: () => tokens.pending(),

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const executionArn of [...active.keys()]) abandon(executionArn);
      await Promise.race([Promise.allSettled([...handlerCalls]), delay(STOP_GRACE_MS)]);
      await store.flushed();
    },
  };

  if (options.resume !== false) await runner.resume();
  return runner;
}

/** A JSON-safe copy of a handler result, refused past Step Functions' 256 KB state data limit. */
function toJson(value: unknown, stateName: string): unknown {
  const text = JSON.stringify(value ?? null);
  if (Buffer.byteLength(text, 'utf8') > MAX_STATE_DATA_BYTES) {
    throw new DataLimitExceededError(`the result of state ${stateName} is larger than 262144 bytes`);
  }
  return JSON.parse(text);
}

function replacePlaceholder(value: unknown, token: string): unknown {
  if (typeof value === 'string') return value.replaceAll(TOKEN_PLACEHOLDER, token);
  if (Array.isArray(value)) return value.map((v) => replacePlaceholder(v, token));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replacePlaceholder(v, token)]));
  }
  return value;
}

function parseStateMachineArn(stateMachineArn: string): {
  region: string;
  accountId: string;
  name: string;
  roleArn: string;
} {
  const match = /^arn:aws:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]+)$/.exec(stateMachineArn);
  if (match === null) throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  const [, region, accountId, name] = match as unknown as [string, string, string, string];
  return { region, accountId, name, roleArn: `arn:aws:iam::${accountId}:role/${name}-role` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
