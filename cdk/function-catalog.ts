/**
 * The functions to deploy, derived from lambdas/routes.ts: one per handler directory
 * (`lambdas/<capability>/<name>/index.ts`), with what kind of caller it has and the settings that follow.
 */
import {
  EVENT_FUNCTIONS,
  META_TASK_WORKFLOW_FUNCTIONS,
  ROUTES,
  SCHEDULED_FUNCTIONS,
  STREAM_FUNCTIONS,
  WORKFLOW_FUNCTIONS,
} from '#lambdas/routes.ts';

export type FunctionKind = 'http' | 'workflow' | 'scheduled' | 'stream' | 'event';

export interface FunctionSpec {
  /** Directory under lambdas/, e.g. `submit-task`. */
  name: string;
  kind: FunctionKind;
  timeoutSec: number;
  memoryMB: number;
}

/**
 * HTTP functions answer inside the HTTP API's 30 s integration limit (their SDK calls time out in
 * seconds, so a stalled service is a 503, not a hung request); a workflow step sends one page of
 * messages; the scheduled reaper sweeps twice a minute; a stream batch is small work. Memory is
 * what the work needs (Lambda bills GB-seconds, and gives CPU in proportion to memory).
 */
const KIND_SETTINGS: Record<FunctionKind, Pick<FunctionSpec, 'timeoutSec' | 'memoryMB'>> = {
  http: { timeoutSec: 25, memoryMB: 512 },
  workflow: { timeoutSec: 120, memoryMB: 1024 },
  scheduled: { timeoutSec: 58, memoryMB: 512 },
  stream: { timeoutSec: 60, memoryMB: 512 },
  // A task end's first webhook attempts, each bounded by GLUON_WEBHOOK_TIMEOUT_MS (at most 30 s).
  event: { timeoutSec: 60, memoryMB: 256 },
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
  for (const name of META_TASK_WORKFLOW_FUNCTIONS) add(name, 'workflow');
  for (const schedule of SCHEDULED_FUNCTIONS) add(schedule.functionName, 'scheduled');
  for (const feed of STREAM_FUNCTIONS) add(feed.functionName, 'stream');
  for (const target of EVENT_FUNCTIONS) add(target.functionName, 'event');
  return [...kinds.entries()].map(([name, kind]) => ({ name, kind, ...KIND_SETTINGS[kind] }));
}

/** `submit-task` → `SubmitTask`. */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
