import { readFile } from 'node:fs/promises';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';

/**
 * Reads an ASL file as it is deployed (`${XxxFunctionArn}` substitutions included) and works out,
 * for every Task state, which Lambda function it calls and how. Substitutions are filled the way
 * CDK's definition substitutions fill them (function ARNs of this local account), so the definition
 * the interpreter runs is the deployed one.
 */
export type TaskIntegration =
  /** `Resource` is the function ARN: the state's result is the handler's result. */
  | 'lambda'
  /** `arn:aws:states:::lambda:invoke`: the handler gets `Payload`, the result is `{ Payload, StatusCode, … }`. */
  | 'lambda-invoke'
  /** `arn:aws:states:::lambda:invoke.waitForTaskToken`: the handler gets `Payload`; the result comes from SendTaskSuccess. */
  | 'lambda-invoke-wait';

export interface TaskBinding {
  stateName: string;
  functionName: string;
  integration: TaskIntegration;
}

export interface WorkflowDefinition {
  definition: StateMachineDefinition;
  /** Task states by state name (including states inside Parallel branches and Map processors). */
  tasks: Map<string, TaskBinding>;
}

export interface LoadDefinitionOptions {
  region?: string;
  accountId?: string;
  /** Values for substitution variables that are not `${XxxFunctionArn}`. */
  substitutions?: Record<string, string>;
  /**
   * Timeout of Task states that set none. Step Functions' default is effectively unlimited
   * (99999999 s); the interpreter's is 60 s, far too short for a wait on jobs.
   */
  defaultTaskTimeoutSec?: number;
}

/** The longest delay a Node timer can hold (2^31-1 ms). */
export const MAX_TASK_TIMEOUT_SEC = 2_147_483;

const FUNCTION_ARN_VARIABLE = /^\$\{([A-Za-z0-9]+)FunctionArn\}$/;
const LAMBDA_ARN = /^arn:aws:lambda:[^:]*:[^:]*:function:([^:]+)(:[^:]+)?$/;
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const LAMBDA_INVOKE_WAIT = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** `SplitTask` → `split-task` (the function name of `${SplitTaskFunctionArn}`). */
export function kebabCase(pascal: string): string {
  return pascal
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

export async function loadWorkflowDefinition(
  file: string,
  options: LoadDefinitionOptions = {},
): Promise<WorkflowDefinition> {
  const text = await readFile(file, 'utf8');
  return parseWorkflowDefinition(text, file, options);
}

export function parseWorkflowDefinition(
  text: string,
  source: string,
  options: LoadDefinitionOptions = {},
): WorkflowDefinition {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const timeoutSec = Math.min(options.defaultTaskTimeoutSec ?? MAX_TASK_TIMEOUT_SEC, MAX_TASK_TIMEOUT_SEC);

  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON: ${(error as Error).message}`);
  }
  if (!isObject(raw) || !isObject(raw.States)) throw new Error(`${source}: no "States" object`);

  const tasks = new Map<string, TaskBinding>();
  forEachState(raw, (stateName, state) => {
    if (state.Type !== 'Task') return;
    const binding = bindTask(stateName, state, source);
    if (tasks.has(stateName)) throw new Error(`${source}: two Task states are named ${stateName}`);
    tasks.set(stateName, binding);
    if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined)
      state.TimeoutSeconds = timeoutSec;
  });

  const substitute = (value: string): string =>
    value.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_whole, name: string) => {
      const fn = /^([A-Za-z0-9]+)FunctionArn$/.exec(name);
      if (fn !== null) return `arn:aws:lambda:${region}:${accountId}:function:${kebabCase(fn[1] as string)}`;
      const given = options.substitutions?.[name];
      if (given === undefined) throw new Error(`${source}: no value for the substitution \${${name}}`);
      return given;
    });

  return { definition: mapStrings(raw, substitute) as unknown as StateMachineDefinition, tasks };
}

function bindTask(stateName: string, state: Record<string, unknown>, source: string): TaskBinding {
  const resource = state.Resource;
  if (typeof resource !== 'string') throw new Error(`${source}: Task state ${stateName} has no Resource`);
  const direct = functionNameOf(resource);
  if (direct !== undefined) return { stateName, functionName: direct, integration: 'lambda' };
  if (resource === LAMBDA_INVOKE || resource === LAMBDA_INVOKE_WAIT) {
    const parameters = state.Parameters;
    const target = isObject(parameters) ? parameters.FunctionName : undefined;
    const functionName = typeof target === 'string' ? functionNameOf(target) : undefined;
    if (functionName === undefined) {
      throw new Error(
        `${source}: Task state ${stateName} (${resource}) needs Parameters.FunctionName as \${XxxFunctionArn} or a function ARN`,
      );
    }
    const integration = resource === LAMBDA_INVOKE ? 'lambda-invoke' : 'lambda-invoke-wait';
    return { stateName, functionName, integration };
  }
  throw new Error(
    `${source}: Task state ${stateName} uses ${resource}, which the local workflow runner does not run (only Lambda functions and lambda:invoke[.waitForTaskToken])`,
  );
}

function functionNameOf(value: string): string | undefined {
  const variable = FUNCTION_ARN_VARIABLE.exec(value);
  if (variable !== null) return kebabCase(variable[1] as string);
  const arn = LAMBDA_ARN.exec(value);
  return arn === null ? undefined : arn[1];
}

/** Visits every state, including those of Parallel branches and Map item processors. */
function forEachState(
  machine: Record<string, unknown>,
  visit: (name: string, state: Record<string, unknown>) => void,
): void {
  const states = machine.States;
  if (!isObject(states)) return;
  for (const [name, state] of Object.entries(states)) {
    if (!isObject(state)) continue;
    visit(name, state);
    if (Array.isArray(state.Branches))
      for (const branch of state.Branches) if (isObject(branch)) forEachState(branch, visit);
    for (const key of ['ItemProcessor', 'Iterator']) {
      const inner = state[key];
      if (isObject(inner)) forEachState(inner, visit);
    }
  }
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
