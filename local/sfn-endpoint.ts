import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ExecutionRecord } from './execution-store.ts';
import { closeOnce, LOOPBACK as HOST, listenOnLoopback } from './listen.ts';
import { consoleLog, type Log } from './log.ts';
import type { WorkflowRunner } from './workflow-runner.ts';
import { WorkflowServiceError } from './workflow-service-error.ts';

/**
 * The Step Functions API of the local stack: a node:http server on 127.0.0.1 speaking the AWS
 * JSON 1.0 protocol (`X-Amz-Target: AWSStepFunctions.<Operation>`), so handlers use the real
 * `@aws-sdk/client-sfn` through `AWS_ENDPOINT_URL_SFN`. Operations: StartExecution,
 * DescribeExecution, StopExecution, ListExecutions, SendTaskSuccess, SendTaskFailure,
 * SendTaskHeartbeat.
 */
export interface SfnEndpointOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The runner of each state machine (the task workflow's, the meta-task workflow's). */
  runner: WorkflowRunner | readonly WorkflowRunner[];
  log?: Log;
}

export interface SfnEndpoint {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'AWSStepFunctions.';
const CONTENT_TYPE = 'application/x-amz-json-1.0';
const MAX_REQUEST_BYTES = 1024 * 1024;

type Operation = (
  runners: readonly WorkflowRunner[],
  body: Record<string, unknown>,
) => Promise<unknown> | unknown;

/** Errors that mean "not this runner's": the next runner is asked. */
const NOT_MINE = new Set(['ExecutionDoesNotExist', 'TaskDoesNotExist']);

/** Runs `fn` on each runner until one knows the execution or token (the last answer otherwise). */
async function onOwner<T>(runners: readonly WorkflowRunner[], fn: (runner: WorkflowRunner) => T): Promise<T> {
  let last: unknown;
  for (const runner of runners) {
    try {
      return await fn(runner);
    } catch (error) {
      if (!(error instanceof WorkflowServiceError) || !NOT_MINE.has(error.type)) throw error;
      last = error;
    }
  }
  throw last;
}

const OPERATIONS: Record<string, Operation> = {
  async StartExecution(runners, body) {
    const stateMachineArn = requiredString(body, 'stateMachineArn');
    const runner = runners.find((r) => r.stateMachineArn === stateMachineArn);
    if (runner === undefined) {
      throw new WorkflowServiceError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${stateMachineArn}'`,
      );
    }
    const { executionArn, startDate } = await runner.startExecution({
      name: optionalString(body, 'name'),
      input: optionalString(body, 'input'),
    });
    return { executionArn, startDate: epochSeconds(startDate) };
  },

  DescribeExecution(runners, body) {
    const executionArn = requiredString(body, 'executionArn');
    return onOwner(runners, (runner) => describe(runner.describeExecution(executionArn)));
  },

  async StopExecution(runners, body) {
    const executionArn = requiredString(body, 'executionArn');
    const { stopDate } = await onOwner(runners, (runner) =>
      runner.stopExecution(executionArn, {
        error: optionalString(body, 'error'),
        cause: optionalString(body, 'cause'),
      }),
    );
    return { stopDate: epochSeconds(stopDate) };
  },

  ListExecutions(runners, body) {
    const statusFilter = optionalString(body, 'statusFilter');
    const stateMachineArn = optionalString(body, 'stateMachineArn');
    const executions = runners
      .filter((r) => stateMachineArn === undefined || r.stateMachineArn === stateMachineArn)
      .flatMap((r) => r.listExecutions())
      .filter((e) => statusFilter === undefined || e.status === statusFilter)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
      .map((e) => ({
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: epochSeconds(new Date(e.startedAt)),
        ...(e.stoppedAt === undefined ? {} : { stopDate: epochSeconds(new Date(e.stoppedAt)) }),
      }));
    return { executions };
  },

  async SendTaskSuccess(runners, body) {
    const token = requiredString(body, 'taskToken');
    const output = requiredString(body, 'output');
    await onOwner(runners, (runner) => runner.sendTaskSuccess(token, output));
    return {};
  },

  async SendTaskFailure(runners, body) {
    const token = requiredString(body, 'taskToken');
    await onOwner(runners, (runner) =>
      runner.sendTaskFailure(token, optionalString(body, 'error'), optionalString(body, 'cause')),
    );
    return {};
  },

  async SendTaskHeartbeat(runners, body) {
    // Heartbeats are not enforced locally; only the token is checked.
    const token = requiredString(body, 'taskToken');
    await onOwner(runners, (runner) => runner.sendTaskHeartbeat(token));
    return {};
  },
};

export async function startSfnEndpoint(options: SfnEndpointOptions): Promise<SfnEndpoint> {
  const log = options.log ?? consoleLog;
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log('error', 'step functions request failed', { error });
      if (!res.headersSent) sendError(res, 500, 'InternalFailure', 'internal error');
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    const text = await readBody(req);
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) {
      return sendError(
        res,
        400,
        'UnknownOperationException',
        'expected POST with X-Amz-Target: AWSStepFunctions.*',
      );
    }
    const operationName = target.slice(TARGET_PREFIX.length);
    const operation = OPERATIONS[operationName];
    if (operation === undefined) {
      return sendError(
        res,
        400,
        'UnknownOperationException',
        `${operationName} is not supported by the local stack`,
      );
    }
    if (text === undefined) return sendError(res, 413, 'RequestEntityTooLarge', 'request too large');
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      return sendError(res, 400, 'SerializationException', 'request body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return sendError(res, 400, 'SerializationException', 'request body is not a JSON object');
    }
    try {
      const runners = Array.isArray(options.runner) ? options.runner : [options.runner as WorkflowRunner];
      const result = await operation(runners, body as Record<string, unknown>);
      res.writeHead(200, { 'content-type': CONTENT_TYPE });
      res.end(JSON.stringify(result));
    } catch (error) {
      if (error instanceof WorkflowServiceError)
        return sendError(res, error.status, error.type, error.message);
      throw error;
    }
  }

  const port = await listenOnLoopback(server, options.port);
  return {
    url: `http://${HOST}:${port}`,
    port,
    stop: closeOnce(server),
  };
}

function describe(record: ExecutionRecord): Record<string, unknown> {
  return {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    startDate: epochSeconds(new Date(record.startedAt)),
    ...(record.stoppedAt === undefined ? {} : { stopDate: epochSeconds(new Date(record.stoppedAt)) }),
    input: record.input,
    inputDetails: { included: true },
    ...(record.output === undefined ? {} : { output: record.output, outputDetails: { included: true } }),
    ...(record.error === undefined ? {} : { error: record.error }),
    ...(record.cause === undefined ? {} : { cause: record.cause }),
  };
}

function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw new WorkflowServiceError(
      'ValidationException',
      `1 validation error detected: '${field}' must not be null`,
    );
  }
  return value;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new WorkflowServiceError('ValidationException', `'${field}' must be a string`);
  return value;
}

function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

export function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': CONTENT_TYPE, 'x-amzn-errortype': type });
  res.end(JSON.stringify({ __type: type, message }));
}

export function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > MAX_REQUEST_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}
