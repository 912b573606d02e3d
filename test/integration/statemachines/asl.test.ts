import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { WORKFLOW_FUNCTIONS } from '#lambdas/routes.ts';
import { PROJECT_ROOT } from '../../../cdk/gluon-app.ts';

interface AslValidation {
  isValid: boolean;
  errorsText(separator?: string): string;
}
type AslValidator = (
  definition: unknown,
  options?: { checkPaths: boolean; checkArn: boolean },
) => AslValidation;
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

interface State {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  ResultPath?: string;
  Result?: unknown;
  Choices?: Array<{
    Variable?: string;
    BooleanEquals?: boolean;
    And?: Array<{ Variable: string; BooleanEquals?: boolean; IsPresent?: boolean }>;
    Next: string;
  }>;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  States?: Record<string, State>;
  Branches?: Array<{ States: Record<string, State> }>;
  ItemProcessor?: { States: Record<string, State> };
}

interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

/** The error names Step Functions itself raises (Retry/Catch may name them). */
const STATES_ERRORS = new Set([
  'States.ALL',
  'States.DataLimitExceeded',
  'States.ExceedToleratedFailureThreshold',
  'States.HeartbeatTimeout',
  'States.Http.Socket',
  'States.IntrinsicFailure',
  'States.ItemReaderFailed',
  'States.NoChoiceMatched',
  'States.ParameterPathFailure',
  'States.Permissions',
  'States.QueryEvaluationError',
  'States.ResultPathMatchFailure',
  'States.ResultWriterFailed',
  'States.Runtime',
  'States.TaskFailed',
  'States.Timeout',
  'States.BranchFailed',
]);

const directory = join(PROJECT_ROOT, 'statemachines');
const files = readdirSync(directory).filter((f) => f.endsWith('.asl.json'));

/** `name = '…'` literals of the error classes in core/errors.ts: what handlers can throw by name. */
const errorNames = new Set(
  [...readFileSync(join(PROJECT_ROOT, 'core/errors.ts'), 'utf8').matchAll(/\bname = '(\w+)'/g)].map(
    (m) => m[1] as string,
  ),
);

/** `SplitTask` → `split-task`. */
function kebab(pascal: string): string {
  return pascal.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** `${SplitTaskFunctionArn}` → an ARN of the shape CloudFormation substitutes. */
function withExampleArns(text: string): string {
  return text.replace(
    /\$\{(\w+)FunctionArn\}/g,
    (_, name: string) => `arn:aws:lambda:eu-west-1:111122223333:function:gluon-dev-${kebab(name)}`,
  );
}

function allStates(states: Record<string, State>): Array<[string, State]> {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.Branches ?? []).flatMap((b) => allStates(b.States)),
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);
}

describe('state machine definitions', () => {
  it('finds the ASL files and the error names', () => {
    expect(files).toContain('task.asl.json');
    expect(errorNames).toContain('TransientError');
    expect(errorNames.size).toBeGreaterThan(5);
  });

  for (const file of files) {
    const text = readFileSync(join(directory, file), 'utf8');

    it(`${file} uses only \${XxxFunctionArn} placeholders`, () => {
      const placeholders = [...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]);
      expect(placeholders.length).toBeGreaterThan(0);
      for (const placeholder of placeholders) expect(placeholder).toMatch(/^[A-Z][A-Za-z]+FunctionArn$/);
    });

    it(`${file} passes asl-validator, ARNs and paths checked`, () => {
      const definition = JSON.parse(withExampleArns(text)) as unknown;
      const result = aslValidator(definition, { checkPaths: true, checkArn: true });
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
    });

    it(`${file} retries and catches only States.*, Lambda.* or error names the handlers throw`, () => {
      const definition = JSON.parse(withExampleArns(text)) as Definition;
      const names = allStates(definition.States).flatMap(([, state]) =>
        [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((rule) => rule.ErrorEquals),
      );
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        const known = STATES_ERRORS.has(name) || /^Lambda\.[A-Za-z]+$/.test(name) || errorNames.has(name);
        expect(known, `${file}: ErrorEquals "${name}"`).toBe(true);
      }
    });
  }

  it('rejects a definition with a broken transition (the validator can fail)', () => {
    const result = aslValidator(
      { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Missing' } } },
      { checkPaths: true, checkArn: true },
    );
    expect(result.isValid).toBe(false);
  });
});

const taskText = readFileSync(join(directory, 'task.asl.json'), 'utf8');
const task = JSON.parse(taskText) as Definition;

function state(name: string): State {
  const found = task.States[name];
  if (found === undefined) throw new Error(`no state ${name}`);
  return found;
}

/** Every transition of the task workflow: `From -> To` (choices with their condition). */
/** `$.a == true`, or for an And of a presence test and a value, `$.a present && $.a == true`. */
function choiceText(c: NonNullable<State['Choices']>[number]): string {
  const one = (r: { Variable?: string; BooleanEquals?: boolean; IsPresent?: boolean }) =>
    r.IsPresent === undefined ? `${r.Variable} == ${String(r.BooleanEquals)}` : `${r.Variable} present`;
  return c.And === undefined ? one(c) : c.And.map(one).join(' && ');
}

function edges(): string[] {
  return Object.entries(task.States)
    .flatMap(([name, s]) => [
      ...(s.Next === undefined ? [] : [`${name} -> ${s.Next}`]),
      ...(s.Choices ?? []).map((c) => `${name} [${choiceText(c)}] -> ${c.Next}`),
      ...(s.Default === undefined ? [] : [`${name} [default] -> ${s.Default}`]),
      ...(s.Catch ?? []).map((c) => `${name} [catch ${c.ErrorEquals.join(',')}] -> ${c.Next}`),
      ...(s.End === true ? [`${name} -> (end)`] : []),
    ])
    .sort();
}

describe('task.asl.json wiring', () => {
  it('calls a workflow function in each Task state, every workflow function of lambdas/routes.ts', () => {
    const functions = [...taskText.matchAll(/\$\{(\w+)FunctionArn\}/g)].map((m) => kebab(m[1] as string));
    expect([...new Set(functions)].sort()).toEqual([...WORKFLOW_FUNCTIONS].sort());
  });

  it('splits, enqueues page by page, waits, sweeps a cancelled task page by page, waits again, finalizes', () => {
    const worker = (name: string) => `${name} [catch States.ALL] -> FailTask`;
    const es = (path: string) => `${path} present && ${path} == true`;
    expect(task.StartAt).toBe('KindOfStart');
    expect(edges()).toEqual(
      [
        `KindOfStart [${es('$.resubmit')}] -> StartResubmit`,
        'KindOfStart [default] -> ResolveInputs',
        'ResolveInputs -> InputsReady',
        worker('ResolveInputs'),
        'InputsReady [$.inputs.more == true] -> ResolveInputs',
        'InputsReady [$.inputs.ready == false] -> WaitForInputs',
        'InputsReady [default] -> SplitTask',
        'WaitForInputs -> ResolveInputs',
        `MoreInputs [${es('$.inputs.untilClosed')}] -> ResolveMoreInputs`,
        'MoreInputs [default] -> FinalizeTask',
        'ResolveMoreInputs -> MoreInputsFound',
        worker('ResolveMoreInputs'),
        'MoreInputsFound [$.inputs.waiting == true] -> WaitForJobs',
        'MoreInputsFound [$.inputs.more == true] -> ResolveMoreInputs',
        'MoreInputsFound [$.inputs.closed == true] -> FinalizeTask',
        'MoreInputsFound [default] -> WaitForMoreInputs',
        'WaitForMoreInputs -> ResolveMoreInputs',
        'SplitTask -> KindOfTask',
        worker('SplitTask'),
        `KindOfTask [${es('$.progress.eventService')}] -> StartRanges`,
        'KindOfTask [default] -> EnqueueJobs',
        'StartRanges -> EnqueueRanges',
        'EnqueueRanges -> MoreRanges',
        worker('EnqueueRanges'),
        'MoreRanges [$.ranges.done == false] -> EnqueueRanges',
        'MoreRanges [default] -> EnqueueJobs',
        `AfterJobs [${es('$.ranges.eventService')}] -> MergeRanges`,
        'AfterJobs [default] -> SizeTask',
        'SizeTask -> TaskSized',
        worker('SizeTask'),
        'TaskSized [$.sizing.waiting == true] -> WaitForJobs',
        'TaskSized [default] -> MoreInputs',
        'MergeRanges -> MergeStarted',
        worker('MergeRanges'),
        'MergeStarted [$.merge.waiting == true] -> WaitForJobs',
        'MergeStarted [default] -> FinalizeTask',
        'FinalizeTask -> AfterFinalize',
        `AfterFinalize [${es('$.ranges.eventService')}] -> CloseRangeQueue`,
        'AfterFinalize [default] -> Done',
        'CloseRangeQueue -> (end)',
        'FailTask -> CloseAfterFailure',
        'CloseAfterFailure -> (end)',
        'EnqueueJobs -> MoreToEnqueue',
        worker('EnqueueJobs'),
        'MoreToEnqueue [$.progress.done == false] -> EnqueueJobs',
        'MoreToEnqueue [default] -> WaitForJobs',
        'WaitForJobs -> AfterWait',
        worker('WaitForJobs'),
        'AfterWait [$.wait.sweep == true] -> StartCancel',
        `AfterWait [${es('$.wait.resume')}] -> StartResume`,
        'StartResume -> ResumeJobs',
        'ResumeJobs -> MoreToResume',
        worker('ResumeJobs'),
        'MoreToResume [$.resume.done == false] -> ResumeJobs',
        'MoreToResume [default] -> WaitForJobs',
        `AfterWait [${es('$.wait.resubmit')}] -> StartResubmit`,
        'StartResubmit -> ResubmitJobs',
        'ResubmitJobs -> MoreToResubmit',
        worker('ResubmitJobs'),
        'MoreToResubmit [$.resubmit.done == false] -> ResubmitJobs',
        'MoreToResubmit [default] -> WaitForJobs',
        'AfterWait [default] -> AfterJobs',
        'StartCancel -> CancelJobs',
        'CancelJobs -> MoreToCancel',
        worker('CancelJobs'),
        'MoreToCancel [$.cancel.done == false] -> CancelJobs',
        'MoreToCancel [default] -> WaitForJobs',
        worker('FinalizeTask'),
      ].sort(),
    );
  });

  it('starts the cancel sweep at the first job and hands each page where the last one stopped', () => {
    expect(state('StartCancel')).toMatchObject({
      Type: 'Pass',
      Result: { nextIndex: 0, done: false },
      ResultPath: '$.cancel',
    });
    expect(state('CancelJobs')).toMatchObject({
      Parameters: { 'taskId.$': '$.taskId', 'nextIndex.$': '$.cancel.nextIndex' },
      ResultPath: '$.cancel',
    });
    expect(state('EnqueueJobs')).toMatchObject({
      Parameters: { 'taskId.$': '$.taskId', 'nextIndex.$': '$.progress.nextIndex' },
      ResultPath: '$.progress',
    });
    expect(state('SplitTask').ResultPath).toBe('$.progress');
  });

  it('waits on a task token, keeping the released outcome where AfterWait reads it', () => {
    expect(state('WaitForJobs')).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: '${WaitForJobsFunctionArn}',
        Payload: { 'taskId.$': '$.taskId', 'taskToken.$': '$$.Task.Token' },
      },
      ResultPath: '$.wait',
    });
  });

  it('retries transient errors of every worker step and hands the error to FailTask', () => {
    for (const name of [
      'SplitTask',
      'EnqueueJobs',
      'WaitForJobs',
      'CancelJobs',
      'ResubmitJobs',
      'SizeTask',
      'FinalizeTask',
    ]) {
      const s = state(name);
      expect(s.Retry?.[0]?.ErrorEquals, name).toContain('TransientError');
      expect(s.Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'FailTask' },
      ]);
    }
    expect(state('FailTask').Parameters).toEqual({ 'taskId.$': '$.taskId', 'error.$': '$.error' });
    expect(state('FailTask').Catch).toBeUndefined();
  });
});

/** The interpreter's JSON value type (not exported by the package under its own name). */
type JSONValue = Awaited<ReturnType<StateMachine['run']>['result']>;

/** Runs task.asl.json with every Task state answered by `handlers` (by state name); the states entered. */
async function run(
  handlers: Record<string, (input: Record<string, unknown>) => JSONValue | Promise<JSONValue>>,
  input: Record<string, JSONValue> = { taskId: 't-asl0000001' },
): Promise<{ output: JSONValue; entered: string[]; inputs: Map<string, Array<Record<string, unknown>>> }> {
  const definition = JSON.parse(withExampleArns(taskText)) as StateMachineDefinition;
  const machine = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
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
  const execution = machine.run(input, {
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

const progress = (nextIndex: number, done: boolean) => ({ nextIndex, done });
/** The resolve step of a task that reads no dataset (or a closed one): ready, nothing more to come. */
const READY = {
  ready: true,
  files: 0,
  added: 0,
  waiting: false,
  more: false,
  closed: true,
  untilClosed: false,
  waitSec: 0,
};

describe('task.asl.json runs', () => {
  it('runs a task through every enqueue page to its final state', async () => {
    const pages = [progress(5000, false), progress(8000, true)];
    const { entered, inputs, output } = await run({
      ResolveInputs: () => READY,
      SplitTask: () => progress(0, false),
      EnqueueJobs: () => pages.shift() ?? progress(0, true),
      WaitForJobs: ({ taskId }) => ({ taskId: taskId as string, sweep: false }),
      SizeTask: () => ({ waiting: false }),
      FinalizeTask: () => ({ state: 'done' }),
      CancelJobs: () => progress(0, true),
      FailTask: () => ({ state: 'failed' }),
    });
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'EnqueueJobs',
      'MoreToEnqueue',
      'EnqueueJobs',
      'MoreToEnqueue',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'SizeTask',
      'TaskSized',
      'MoreInputs',
      'FinalizeTask',
      'AfterFinalize',
      'Done',
    ]);
    expect(inputs.get('EnqueueJobs')).toEqual([
      { taskId: 't-asl0000001', nextIndex: 0 },
      { taskId: 't-asl0000001', nextIndex: 5000 },
    ]);
    expect(inputs.get('WaitForJobs')).toEqual([
      {
        FunctionName: expect.stringContaining('wait-for-jobs'),
        Payload: { taskId: 't-asl0000001', taskToken: 'token-1' },
      },
    ]);
    expect(output).toMatchObject({ taskId: 't-asl0000001', result: { state: 'done' } });
  });

  it('sweeps a cancelled task page by page, waits again, then finalizes', async () => {
    const waits = [
      { taskId: 't-asl0000001', sweep: true },
      { taskId: 't-asl0000001', sweep: false },
    ];
    const sweeps = [progress(5000, false), progress(0, true)];
    const { entered, inputs } = await run({
      ResolveInputs: () => READY,
      SplitTask: () => progress(0, false),
      EnqueueJobs: () => progress(10, true),
      WaitForJobs: () => waits.shift() ?? { taskId: 't-asl0000001', sweep: false },
      CancelJobs: () => sweeps.shift() ?? progress(0, true),
      SizeTask: () => ({ waiting: false }),
      FinalizeTask: () => ({ state: 'cancelled' }),
      FailTask: () => ({ state: 'failed' }),
    });
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'EnqueueJobs',
      'MoreToEnqueue',
      'WaitForJobs',
      'AfterWait',
      'StartCancel',
      'CancelJobs',
      'MoreToCancel',
      'CancelJobs',
      'MoreToCancel',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'SizeTask',
      'TaskSized',
      'MoreInputs',
      'FinalizeTask',
      'AfterFinalize',
      'Done',
    ]);
    expect(inputs.get('CancelJobs')).toEqual([
      { taskId: 't-asl0000001', nextIndex: 0 },
      { taskId: 't-asl0000001', nextIndex: 5000 },
    ]);
  });

  it('runs a task a resubmit reopened: resubmit step page by page, wait, finalize; no split, no enqueue', async () => {
    const pages = [
      { nextIndex: 5000, done: false, resubmitted: 12 },
      { nextIndex: 7000, done: true, resubmitted: 20 },
    ];
    const { entered, inputs, output } = await run(
      {
        ResubmitJobs: () => pages.shift() ?? { nextIndex: 0, done: true, resubmitted: 0 },
        WaitForJobs: ({ taskId }) => ({ taskId: taskId as string, sweep: false }),
        SizeTask: () => ({ waiting: false }),
        FinalizeTask: () => ({ state: 'done' }),
        FailTask: () => ({ state: 'failed' }),
      },
      { taskId: 't-asl0000001', resubmit: true },
    );
    expect(entered).toEqual([
      'KindOfStart',
      'StartResubmit',
      'ResubmitJobs',
      'MoreToResubmit',
      'ResubmitJobs',
      'MoreToResubmit',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'SizeTask',
      'TaskSized',
      'MoreInputs',
      'FinalizeTask',
      'AfterFinalize',
      'Done',
    ]);
    expect(inputs.get('ResubmitJobs')).toEqual([
      { taskId: 't-asl0000001', nextIndex: 0, resubmitted: 0 },
      { taskId: 't-asl0000001', nextIndex: 5000, resubmitted: 12 },
    ]);
    expect(output).toMatchObject({ result: { state: 'done' } });
  });

  it('runs the resubmit step when a running task is resubmitted during its wait, then waits again', async () => {
    const waits: JSONValue[] = [
      { taskId: 't-asl0000001', sweep: false, resubmit: true },
      { taskId: 't-asl0000001', sweep: false },
    ];
    const { entered } = await run({
      ResolveInputs: () => READY,
      SplitTask: () => progress(0, false),
      EnqueueJobs: () => progress(10, true),
      WaitForJobs: () => waits.shift() ?? { taskId: 't-asl0000001', sweep: false },
      ResubmitJobs: () => ({ nextIndex: 10, done: true, resubmitted: 3 }),
      SizeTask: () => ({ waiting: false }),
      FinalizeTask: () => ({ state: 'done' }),
      FailTask: () => ({ state: 'failed' }),
    });
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'EnqueueJobs',
      'MoreToEnqueue',
      'WaitForJobs',
      'AfterWait',
      'StartResubmit',
      'ResubmitJobs',
      'MoreToResubmit',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'SizeTask',
      'TaskSized',
      'MoreInputs',
      'FinalizeTask',
      'AfterFinalize',
      'Done',
    ]);
  });

  it('retries a step that failed with a TransientError and fails the task on any other error', async () => {
    let splits = 0;
    const { entered, inputs, output } = await run({
      ResolveInputs: () => READY,
      SplitTask: () => {
        splits++;
        if (splits === 1) throw Object.assign(new Error('busy'), { name: 'TransientError' });
        return progress(0, false);
      },
      EnqueueJobs: () => {
        throw Object.assign(new Error('no site can run the jobs'), { name: 'NoSiteError' });
      },
      WaitForJobs: () => ({ taskId: 't-asl0000001', sweep: false }),
      CancelJobs: () => progress(0, true),
      SizeTask: () => ({ waiting: false }),
      FinalizeTask: () => ({ state: 'done' }),
      FailTask: () => ({ state: 'failed' }),
      CloseAfterFailure: () => ({ closed: false }),
    });
    expect(splits).toBe(2);
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'EnqueueJobs',
      'FailTask',
      'CloseAfterFailure',
    ]);
    expect(inputs.get('FailTask')).toEqual([
      { taskId: 't-asl0000001', error: { Error: 'NoSiteError', Cause: expect.stringContaining('no site') } },
    ]);
    expect(output).toMatchObject({ result: { state: 'failed' } });
  });

  it('runs an open-ended dataset task: waits for a first job, takes new files after its jobs, polls, ends once closed', async () => {
    const open = { ...READY, closed: false, untilClosed: true };
    const first = [
      { ...open, ready: false },
      { ...open, files: 2 },
    ];
    const more = [
      { ...open, files: 3, added: 1, waiting: true },
      { ...open, files: 3 },
      { ...open, files: 3, closed: true },
    ];
    const { entered, inputs, output } = await run({
      ResolveInputs: () => first.shift() ?? { ...open, files: 2 },
      ResolveMoreInputs: () => more.shift() ?? { ...open, closed: true },
      SplitTask: () => progress(0, false),
      EnqueueJobs: () => progress(1, true),
      WaitForJobs: ({ taskId }) => ({ taskId: taskId as string, sweep: false }),
      SizeTask: () => ({ waiting: false }),
      FinalizeTask: () => ({ state: 'done' }),
      CancelJobs: () => progress(0, true),
      FailTask: () => ({ state: 'failed' }),
    });
    const afterJobs = ['WaitForJobs', 'AfterWait', 'AfterJobs', 'SizeTask', 'TaskSized', 'MoreInputs'];
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'WaitForInputs',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'EnqueueJobs',
      'MoreToEnqueue',
      ...afterJobs,
      'ResolveMoreInputs',
      'MoreInputsFound',
      ...afterJobs,
      'ResolveMoreInputs',
      'MoreInputsFound',
      'WaitForMoreInputs',
      'ResolveMoreInputs',
      'MoreInputsFound',
      'FinalizeTask',
      'AfterFinalize',
      'Done',
    ]);
    expect(inputs.get('ResolveMoreInputs')).toHaveLength(3);
    expect(output).toMatchObject({ inputs: { closed: true }, result: { state: 'done' } });
  });

  it('runs a scouted task: its scouts, the sizing step adds the rest, wait again, nothing more to size, finalize', async () => {
    const sizings = [{ waiting: true }, { waiting: false }];
    const { entered, inputs, output } = await run({
      ResolveInputs: () => READY,
      SplitTask: () => progress(0, false),
      EnqueueJobs: () => progress(3, true),
      WaitForJobs: ({ taskId }) => ({ taskId: taskId as string, sweep: false }),
      SizeTask: () => sizings.shift() ?? { waiting: false },
      FinalizeTask: () => ({ state: 'done' }),
      CancelJobs: () => progress(0, true),
      FailTask: () => ({ state: 'failed' }),
    });
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'EnqueueJobs',
      'MoreToEnqueue',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'SizeTask',
      'TaskSized',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'SizeTask',
      'TaskSized',
      'MoreInputs',
      'FinalizeTask',
      'AfterFinalize',
      'Done',
    ]);
    expect(inputs.get('SizeTask')).toEqual([{ taskId: 't-asl0000001' }, { taskId: 't-asl0000001' }]);
    expect(output).toMatchObject({ sizing: { waiting: false }, result: { state: 'done' } });
  });

  it('runs an event-service task: ranges page by page, consumers, merge, wait again, finalize, close the queue', async () => {
    const rangePages = [
      { nextRange: 50_000, done: false },
      { nextRange: 60_000, done: true },
    ];
    const merges = [{ waiting: true }, { waiting: false }];
    const { entered, inputs, output } = await run({
      ResolveInputs: () => READY,
      SplitTask: () => ({ nextIndex: 0, done: false, eventService: true }),
      EnqueueRanges: () => rangePages.shift() ?? { nextRange: 0, done: true },
      EnqueueJobs: () => progress(4, true),
      WaitForJobs: ({ taskId }) => ({ taskId: taskId as string, sweep: false }),
      MergeRanges: () => merges.shift() ?? { waiting: false },
      SizeTask: () => ({ waiting: false }),
      FinalizeTask: () => ({ state: 'done' }),
      CloseRangeQueue: () => ({ closed: true }),
      CancelJobs: () => progress(0, true),
      FailTask: () => ({ state: 'failed' }),
    });
    expect(entered).toEqual([
      'KindOfStart',
      'ResolveInputs',
      'InputsReady',
      'SplitTask',
      'KindOfTask',
      'StartRanges',
      'EnqueueRanges',
      'MoreRanges',
      'EnqueueRanges',
      'MoreRanges',
      'EnqueueJobs',
      'MoreToEnqueue',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'MergeRanges',
      'MergeStarted',
      'WaitForJobs',
      'AfterWait',
      'AfterJobs',
      'MergeRanges',
      'MergeStarted',
      'FinalizeTask',
      'AfterFinalize',
      'CloseRangeQueue',
    ]);
    expect(inputs.get('EnqueueRanges')).toEqual([
      { taskId: 't-asl0000001', nextRange: 0 },
      { taskId: 't-asl0000001', nextRange: 50_000 },
    ]);
    expect(inputs.get('CloseRangeQueue')).toEqual([{ taskId: 't-asl0000001' }]);
    expect(output).toMatchObject({ result: { state: 'done' }, closed: { closed: true } });
  });
});
