import type { Principal } from '#core/deps.ts';
import { jobIdOf } from '#core/jobs/job.ts';
import { pilotSiteOf } from '#core/pilots/pilot-access.ts';

/** The log keys every line of an invocation carries where known (STYLE.md spells them). */
export interface LogKeys {
  taskId?: string;
  jobId?: string;
  attempt?: number;
  pilotId?: string;
  siteId?: string;
}

function field(source: unknown, name: string): unknown {
  return typeof source === 'object' && source !== null
    ? (source as Record<string, unknown>)[name]
    : undefined;
}

/**
 * The log keys of a request or a workflow step, from what its schemas parsed: the path first, then
 * the body (a claim or a report names its job there), then the input of a step; a pilot's token
 * names its site. Only values of the right type are taken, so nothing unparsed reaches a log key.
 */
export function logKeysOf(parts: readonly unknown[], principal?: Principal): LogKeys {
  const keys: LogKeys = {};
  const first = (name: string, type: 'string' | 'number'): unknown =>
    parts.map((part) => field(part, name)).find((value) => typeof value === type);
  const taskId = first('taskId', 'string') as string | undefined;
  const jobIndex = first('jobIndex', 'number') as number | undefined;
  const attempt = first('attempt', 'number') as number | undefined;
  const pilotId = first('pilotId', 'string') as string | undefined;
  const siteId =
    (first('siteId', 'string') as string | undefined) ??
    (principal === undefined ? undefined : pilotSiteOf(principal));
  if (taskId !== undefined) keys.taskId = taskId;
  if (taskId !== undefined && jobIndex !== undefined) keys.jobId = jobIdOf(taskId, jobIndex);
  if (attempt !== undefined) keys.attempt = attempt;
  if (pilotId !== undefined) keys.pilotId = pilotId;
  if (siteId !== undefined) keys.siteId = siteId;
  return keys;
}
