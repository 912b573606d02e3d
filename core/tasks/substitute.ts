import type { Payload } from './task-spec.ts';

export interface PayloadContext {
  jobIndex: number;
  firstEvent?: number;
  nEvents?: number;
  /** The input files as the payload finds them in its work directory. */
  inputFiles?: string[];
  /** Event-service ranges: the range's index. */
  rangeIndex?: number;
  taskId: string;
  jobId: string;
  attempt: number;
  /** Absolute path of the job's work directory on the worker node. */
  workDir: string;
}

/** The placeholder names a spec may use, `${name}`, and the GLUON_* variable each one also becomes. */
export const PLACEHOLDERS = {
  taskId: 'GLUON_TASK_ID',
  jobId: 'GLUON_JOB_ID',
  jobIndex: 'GLUON_JOB_INDEX',
  attempt: 'GLUON_ATTEMPT',
  firstEvent: 'GLUON_FIRST_EVENT',
  nEvents: 'GLUON_N_EVENTS',
  inputFiles: 'GLUON_INPUT_FILES',
  rangeIndex: 'GLUON_RANGE_INDEX',
  workDir: 'GLUON_WORK_DIR',
} as const;

export type PlaceholderName = keyof typeof PLACEHOLDERS;

function values(ctx: PayloadContext): Record<PlaceholderName, string> {
  return {
    taskId: ctx.taskId,
    jobId: ctx.jobId,
    jobIndex: String(ctx.jobIndex),
    attempt: String(ctx.attempt),
    firstEvent: ctx.firstEvent === undefined ? '' : String(ctx.firstEvent),
    nEvents: ctx.nEvents === undefined ? '' : String(ctx.nEvents),
    inputFiles: (ctx.inputFiles ?? []).join(','),
    rangeIndex: ctx.rangeIndex === undefined ? '' : String(ctx.rangeIndex),
    workDir: ctx.workDir,
  };
}

/** Placeholders in a string that are not known (so a spec can be rejected before it runs). */
export function unknownPlaceholders(text: string): string[] {
  const unknown: string[] = [];
  for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
    const name = match[1] ?? '';
    if (!Object.hasOwn(PLACEHOLDERS, name)) unknown.push(name);
  }
  return unknown;
}

export function substitute(text: string, ctx: PayloadContext): string {
  const v = values(ctx);
  return text.replace(/\$\{([A-Za-z]+)\}/g, (whole, name: string) =>
    Object.hasOwn(v, name) ? v[name as PlaceholderName] : whole,
  );
}

/** The command line and environment of one job attempt, placeholders filled. */
export function resolvePayload(
  payload: Payload,
  ctx: PayloadContext,
): { command: string; args: string[]; env: Record<string, string> } {
  const v = values(ctx);
  const env: Record<string, string> = {};
  for (const [name, variable] of Object.entries(PLACEHOLDERS)) env[variable] = v[name as PlaceholderName];
  for (const [key, value] of Object.entries(payload.env)) env[key] = substitute(value, ctx);
  return {
    command: substitute(payload.command, ctx),
    args: payload.args.map((a) => substitute(a, ctx)),
    env,
  };
}
