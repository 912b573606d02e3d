import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { META_TASK_WORKFLOW_FUNCTIONS } from '#lambdas/routes.ts';
import { PROJECT_ROOT } from '../../../cdk/gluon-app.ts';

const text = readFileSync(join(PROJECT_ROOT, 'statemachines', 'meta-task.asl.json'), 'utf8');

interface State {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  Next?: string;
}
const definition = JSON.parse(text) as { StartAt: string; States: Record<string, State> };
const state = (name: string): State => {
  const found = definition.States[name];
  if (found === undefined) throw new Error(`no state ${name}`);
  return found;
};

function kebab(pascal: string): string {
  return pascal.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
function withExampleArns(asl: string): string {
  return asl.replace(
    /\$\{(\w+)FunctionArn\}/g,
    (_, name: string) => `arn:aws:lambda:eu-west-1:111122223333:function:gluon-dev-${kebab(name)}`,
  );
}

describe('meta-task.asl.json wiring', () => {
  it('calls exactly the meta-task workflow functions of lambdas/routes.ts', () => {
    const functions = [...text.matchAll(/\$\{(\w+)FunctionArn\}/g)].map((m) => kebab(m[1] as string));
    expect([...new Set(functions)].sort()).toEqual([...META_TASK_WORKFLOW_FUNCTIONS].sort());
  });

  it('waits with a task token for the meta-task id, and loops back to Advance', () => {
    const wait = state('WaitForNodes');
    expect(wait.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(wait.Parameters?.Payload).toEqual({
      'metaTaskId.$': '$.metaTaskId',
      'taskToken.$': '$$.Task.Token',
    });
    expect(wait.Next).toBe('Advance');
    expect(definition.StartAt).toBe('Advance');
  });

  it('retries transient errors of Advance and WaitForNodes and hands any other to FailMetaTask', () => {
    for (const name of ['Advance', 'WaitForNodes']) {
      expect(state(name).Retry?.[0]?.ErrorEquals, name).toContain('TransientError');
      expect(state(name).Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'FailMetaTask' },
      ]);
    }
    expect(state('FailMetaTask').Parameters).toEqual({
      'metaTaskId.$': '$.metaTaskId',
      'error.$': '$.error',
    });
    expect(state('FailMetaTask').Next).toBe('Finalize');
  });
});

type JSONValue = Awaited<ReturnType<StateMachine['run']>['result']>;

async function run(
  handlers: Record<string, (input: Record<string, unknown>) => JSONValue | Promise<JSONValue>>,
): Promise<{ output: JSONValue; entered: string[]; inputs: Map<string, Array<Record<string, unknown>>> }> {
  const machine = new StateMachine(JSON.parse(withExampleArns(text)) as StateMachineDefinition, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const inputs = new Map<string, Array<Record<string, unknown>>>();
  const local = Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      async (input: JSONValue) => {
        const args = input as Record<string, unknown>;
        inputs.set(name, [...(inputs.get(name) ?? []), args]);
        return handler(args);
      },
    ]),
  );
  const execution = machine.run({ metaTaskId: 'm-asl0000001' }, {
    overrides: {
      taskResourceLocalHandlers: local,
      retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((name) => [name, 0])),
    },
    context: { Task: { Token: 'token-1' } },
  } as Parameters<StateMachine['run']>[1]);
  const entered: string[] = [];
  const logging = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') entered.push(event.state.name);
    }
  })();
  const output = await execution.result;
  await logging;
  return { output, entered, inputs };
}

describe('meta-task.asl.json runs', () => {
  it('advances, waits for nodes, advances again until the meta-task ended', async () => {
    const ends = [false, false, true];
    const { entered, inputs, output } = await run({
      Advance: () => ({ metaTaskId: 'm-asl0000001', ended: ends.shift() ?? true, state: 'running' }),
      WaitForNodes: ({ Payload }) => ({ metaTaskId: (Payload as { metaTaskId: string }).metaTaskId }),
      FailMetaTask: () => ({ ended: true, state: 'failed' }),
    });
    expect(entered).toEqual([
      'Advance',
      'Ended',
      'WaitForNodes',
      'Advance',
      'Ended',
      'WaitForNodes',
      'Advance',
      'Ended',
      'Finalize',
    ]);
    expect(inputs.get('Advance')?.[0]).toEqual({ metaTaskId: 'm-asl0000001' });
    expect(inputs.get('WaitForNodes')?.[0]).toEqual({
      FunctionName: expect.stringContaining('wait-for-nodes'),
      Payload: { metaTaskId: 'm-asl0000001', taskToken: 'token-1' },
    });
    expect(inputs.get('FailMetaTask')).toBeUndefined();
    expect(output).toMatchObject({ metaTaskId: 'm-asl0000001', advance: { ended: true } });
  });

  it('retries a TransientError and ends the meta-task failed on any other error', async () => {
    let advances = 0;
    const { entered, inputs } = await run({
      Advance: () => {
        advances += 1;
        if (advances === 1) throw Object.assign(new Error('busy'), { name: 'TransientError' });
        throw Object.assign(new Error('bug'), { name: 'TypeError' });
      },
      WaitForNodes: () => ({}),
      FailMetaTask: () => ({ ended: true, state: 'failed' }),
    });
    expect(advances).toBe(2);
    expect(entered).toEqual(['Advance', 'FailMetaTask', 'Finalize']);
    expect(inputs.get('FailMetaTask')).toEqual([
      { metaTaskId: 'm-asl0000001', error: { Error: 'TypeError', Cause: expect.stringContaining('bug') } },
    ]);
  });
});
