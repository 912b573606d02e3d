/**
 * The functions to deploy, derived from lambdas/routes.ts: one per handler directory
 * (`lambdas/<name>/index.ts`), with what kind of caller it has and the settings that follow.
 */
import { ROUTES, SCHEDULED_FUNCTIONS, WORKFLOW_FUNCTIONS } from '#lambdas/routes.ts';

export type FunctionKind = 'http' | 'workflow' | 'scheduled';

export interface FunctionSpec {
  /** Directory under lambdas/, e.g. `submit-task`. */
  name: string;
  kind: FunctionKind;
  timeoutSec: number;
  memoryMB: number;
}

/**
 * HTTP functions answer inside the HTTP API's 30 s integration limit; a workflow step writes and
 * sends one page of jobs; a scheduled function finishes before its next run (every minute).
 */
const KIND_SETTINGS: Record<FunctionKind, Pick<FunctionSpec, 'timeoutSec' | 'memoryMB'>> = {
  http: { timeoutSec: 25, memoryMB: 512 },
  workflow: { timeoutSec: 120, memoryMB: 1024 },
  scheduled: { timeoutSec: 55, memoryMB: 1024 },
};

/** Every function once, in routes-then-workflow-then-schedules order; a name used by two kinds is an error. */
export function functionCatalog(): FunctionSpec[] {
  const kinds = new Map<string, FunctionKind>();
  const add = (name: string, kind: FunctionKind) => {
    const known = kinds.get(name);
    if (known !== undefined && known !== kind) {
      throw new Error(
        `function ${name} is both a ${known} and a ${kind} function; give each its own directory`,
      );
    }
    kinds.set(name, kind);
  };
  for (const route of ROUTES) add(route.functionName, 'http');
  for (const name of WORKFLOW_FUNCTIONS) add(name, 'workflow');
  for (const schedule of SCHEDULED_FUNCTIONS) add(schedule.functionName, 'scheduled');
  return [...kinds.entries()].map(([name, kind]) => ({ name, kind, ...KIND_SETTINGS[kind] }));
}

/** `submit-task` → `SubmitTask`. */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
