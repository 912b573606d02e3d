import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sfnClient } from '#adapters/aws-clients.ts';
import { SfnWorkflowEngine } from '#adapters/sfn/sfn-workflow-engine.ts';
import { TransientError } from '#core/errors.ts';
import { useStandInsEnv } from '#test/support/stand-ins-env.ts';

/**
 * A tiny stand-in for Step Functions speaking its JSON 1.0 protocol: it records every request and
 * answers from a script of responses (default: success).
 */
interface Recorded {
  target: string;
  body: Record<string, unknown>;
}
interface Reply {
  status: number;
  body: Record<string, unknown>;
}

const requests: Recorded[] = [];
let replies: Reply[] = [];
let server: Server;
let restoreEnv: () => void;
const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:gluon-task';

function sfnError(type: string, message = type): Reply {
  return { status: 400, body: { __type: `com.amazonaws.swf.service.v2.model#${type}`, message } };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    requests.push({ target, body: JSON.parse((await readBody(req)) || '{}') });
    const reply = replies.shift() ?? {
      status: 200,
      body: target.endsWith('StartExecution')
        ? { executionArn: `${ARN}:exec`, startDate: 1_764_000_000 }
        : {},
    };
    res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  restoreEnv = useStandInsEnv({
    AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${port}`,
    GLUON_SDK_MAX_ATTEMPTS: '1',
  });
});

afterAll(async () => {
  restoreEnv?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
  replies = [];
});

describe('SfnWorkflowEngine', () => {
  it('starts one execution per task, named by the task id', async () => {
    const engine = new SfnWorkflowEngine(sfnClient(), ARN);
    await engine.startTask('t-abc123');
    expect(requests).toEqual([
      {
        target: 'AWSStepFunctions.StartExecution',
        body: { stateMachineArn: ARN, name: 't-abc123', input: '{"taskId":"t-abc123"}' },
      },
    ]);
  });

  it('starts a reopened task at its resubmit step, in an execution of its own named by the order', async () => {
    const engine = new SfnWorkflowEngine(sfnClient(), ARN);
    await engine.startTask('t-abc123', { resubmitOrder: 2 });
    expect(requests).toEqual([
      {
        target: 'AWSStepFunctions.StartExecution',
        body: { stateMachineArn: ARN, name: 't-abc123-r2', input: '{"taskId":"t-abc123","resubmit":true}' },
      },
    ]);
  });

  it('takes an execution that already exists as started', async () => {
    replies = [sfnError('ExecutionAlreadyExists')];
    await new SfnWorkflowEngine(sfnClient(), ARN).startTask('t-abc123');
    expect(requests).toHaveLength(1);
  });

  it('turns a service fault into a TransientError and passes other errors on', async () => {
    const engine = new SfnWorkflowEngine(sfnClient(), ARN);
    replies = [{ status: 500, body: { __type: 'InternalError', message: 'boom' } }];
    await expect(engine.startTask('t-abc123')).rejects.toBeInstanceOf(TransientError);
    replies = [sfnError('StateMachineDoesNotExist')];
    const error = await engine.startTask('t-abc123').catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(TransientError);
    expect((error as Error).name).toBe('StateMachineDoesNotExist');
  });

  it('releases the wait with SendTaskSuccess carrying the outcome, sweep included', async () => {
    const engine = new SfnWorkflowEngine(sfnClient(), ARN);
    await engine.releaseWait('token-xyz', { taskId: 't-abc123', sweep: false });
    await engine.releaseWait('token-cancel', { taskId: 't-abc123', sweep: true });
    expect(requests).toEqual([
      {
        target: 'AWSStepFunctions.SendTaskSuccess',
        body: { taskToken: 'token-xyz', output: '{"taskId":"t-abc123","sweep":false}' },
      },
      {
        target: 'AWSStepFunctions.SendTaskSuccess',
        body: { taskToken: 'token-cancel', output: '{"taskId":"t-abc123","sweep":true}' },
      },
    ]);
  });

  it('ignores, with a warning, a token whose execution is gone', async () => {
    const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
    const engine = new SfnWorkflowEngine(sfnClient(), ARN, (message, fields) =>
      warnings.push({ message, fields }),
    );
    replies = [sfnError('TaskTimedOut'), sfnError('InvalidToken')];
    await engine.releaseWait('token-old', { taskId: 't-abc123', sweep: false });
    await engine.releaseWait('token-bad', { taskId: 't-abc123', sweep: false });
    expect(warnings.map((w) => w.fields)).toEqual([
      { taskId: 't-abc123', error: 'TaskTimedOut' },
      { taskId: 't-abc123', error: 'InvalidToken' },
    ]);
    replies = [sfnError('InvalidOutput')];
    await expect(engine.releaseWait('token-new', { taskId: 't-abc123', sweep: false })).rejects.toMatchObject(
      {
        name: 'InvalidOutput',
      },
    );
  });
});
