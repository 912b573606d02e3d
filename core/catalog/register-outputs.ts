/**
 * A task's outputs in the catalog (issue 11 §3): the output dataset is made (open) when the task
 * is submitted; each finished job's outputs become its files, with one available replica in the
 * results bucket; the dataset is closed when the task ends. Every step is safe to repeat (the
 * feeds deliver at least once): a file registered and attached before is left as it is.
 */
import type { Deps } from '../deps.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../errors.ts';
import type { JobRecord, OutputFile } from '../jobs/job.ts';
import type { JobRecordChange } from '../jobs/ports.ts';
import { jobAt } from '../tasks/split-task.ts';
import { isFinalTaskState, type TaskHead } from '../tasks/task.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import { type CatalogFile, RESULTS_ENDPOINT_ID, type Replica } from './catalog.ts';
import {
  type Did,
  DidNameSchema,
  defaultOutputDataset,
  didText,
  outputFileName,
  parseDid,
  userScope,
} from './did.ts';
import { mayWriteScope } from './scopes.ts';

/** Who registers task outputs (the `registeredBy` of their files). */
export const OUTPUT_REGISTRAR = 'system:outputs';

/** Tasks the system submits (site tests) keep no output dataset. */
function isSystemOwner(owner: string): boolean {
  return owner.startsWith('system:');
}

/** The dataset a task's outputs go to: the spec's outputDataset, else `user.<owner>:<task name>.output`. */
export function outputDatasetOf(owner: string, spec: Pick<TaskSpec, 'name' | 'outputDataset'>): Did {
  return spec.outputDataset !== undefined
    ? parseDid(spec.outputDataset)
    : defaultOutputDataset(userScope(owner), spec.name);
}

/**
 * Checks, before the task is stored, that its output dataset can be used: in a scope the owner may
 * write in (403 naming `outputDataset` otherwise), and not a file's name or a closed dataset (409).
 * A dataset of that name that is open is used as it is (several tasks may fill one dataset).
 */
export async function checkOutputDataset(
  deps: Pick<Deps, 'catalog'>,
  owner: string,
  spec: Pick<TaskSpec, 'name' | 'outputDataset'>,
): Promise<Did | undefined> {
  if (isSystemOwner(owner)) return undefined;
  const did = outputDatasetOf(owner, spec);
  if (!DidNameSchema.safeParse(did.name).success) {
    throw new ValidationError('invalid task spec', [
      { field: 'outputDataset', message: `${didText(did)} is not a valid dataset name; give outputDataset` },
    ]);
  }
  if (!(await mayWriteScope(deps, { sub: owner, admin: false }, did.scope))) {
    throw new ForbiddenError(
      `outputDataset: ${didText(did)} is in scope ${did.scope}, where you may not write (yours is ${userScope(owner)})`,
    );
  }
  const [dataset, file] = await Promise.all([deps.catalog.getDataset(did), deps.catalog.getFile(did)]);
  if (file !== undefined) throw new ConflictError(`outputDataset: ${didText(did)} is a file`);
  if (dataset?.state === 'closed') {
    throw new ConflictError(
      `outputDataset: ${didText(did)} is closed; name another dataset in outputDataset (or the task otherwise)`,
    );
  }
  return did;
}

/** Makes the task's output dataset (open, with its taskId) unless a dataset of that name is there. */
export async function createOutputDataset(
  deps: Pick<Deps, 'catalog'>,
  task: { taskId: string; owner: string; createdAt: string },
  did: Did,
): Promise<void> {
  await deps.catalog.createDataset({
    ...did,
    state: 'open',
    owner: task.owner,
    files: 0,
    bytes: 0,
    events: 0,
    taskId: task.taskId,
    metadata: {},
    createdAt: task.createdAt,
  });
}

/** A DID name from an output's name (pilots name outputs freely): anything else becomes `_`. */
function safeOutputName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]/, 'x');
}

/** The job index in an attempt's output key (`tasks/<taskId>/jobs/<jobIndex>/attempt-<n>/…`). */
export function jobIndexOfKey(key: string): number | undefined {
  const match = /^tasks\/[^/]+\/jobs\/(0|[1-9][0-9]*)\/attempt-[1-9][0-9]*\//.exec(key);
  return match === null ? undefined : Number(match[1]);
}

interface TaskContext {
  taskId: string;
  owner: string;
  name: string;
  spec: TaskSpec;
  sizing?: TaskHead['sizing'];
}

/** The catalog entries of one job's outputs (those with a checksum; pilots record one for each). */
function outputEntries(
  task: TaskContext,
  jobIndex: number,
  outputs: OutputFile[],
  resultsBucket: string,
  at: string,
): Array<{ file: CatalogFile; replicas: Replica[] }> {
  const did = outputDatasetOf(task.owner, task.spec);
  let nEvents: number | undefined;
  try {
    nEvents = jobAt(task.spec, jobIndex, task.sizing).nEvents;
  } catch {
    nEvents = undefined;
  }
  return outputs.flatMap((output) => {
    if (output.adler32 === undefined) return [];
    const name = outputFileName(task.name, task.taskId, jobIndex, safeOutputName(output.name));
    const file: CatalogFile = {
      scope: did.scope,
      name,
      bytes: output.bytes,
      adler32: output.adler32,
      ...(nEvents === undefined ? {} : { events: nEvents }),
      metadata: {},
    };
    const replica: Replica = {
      scope: did.scope,
      name,
      endpointId: RESULTS_ENDPOINT_ID,
      state: 'available',
      url: `s3://${resultsBucket}/${output.key}`,
      updatedAt: at,
    };
    return [{ file, replicas: [replica] }];
  });
}

/**
 * Registers outputs into the task's dataset. A dataset that is gone is made again; a closed one
 * (the task was resubmitted after it ended) gets no more files, but the files are registered.
 */
async function registerInto(
  deps: Pick<Deps, 'catalog' | 'clock'>,
  task: TaskContext,
  entries: Array<{ file: CatalogFile; replicas: Replica[] }>,
): Promise<number> {
  if (entries.length === 0) return 0;
  const did = outputDatasetOf(task.owner, task.spec);
  const at = deps.clock.now().toISOString();
  let dataset = await deps.catalog.getDataset(did);
  if (dataset === undefined) {
    await createOutputDataset(deps, { taskId: task.taskId, owner: task.owner, createdAt: at }, did);
    dataset = await deps.catalog.getDataset(did);
  }
  const attach = dataset?.state === 'open';
  for (let i = 0; i < entries.length; i += 1000) {
    const batch = entries.slice(i, i + 1000);
    const options = { registeredBy: OUTPUT_REGISTRAR, at };
    let outcome: Awaited<ReturnType<typeof deps.catalog.registerFiles>>;
    try {
      outcome = await deps.catalog.registerFiles(batch, attach ? { ...options, dataset: did } : options);
    } catch (error) {
      // Closed between the read and the write: the files are registered all the same.
      if (!(error instanceof ConflictError)) throw error;
      outcome = await deps.catalog.registerFiles(batch, options);
    }
    // A conflict is a name taken by another file (not a task's: names hold the task id); the
    // outputs stay in the results bucket and the task's listing, so the feed goes on.
    if (outcome.outcome === 'conflict') continue;
  }
  return entries.length;
}

/**
 * The jobs feed's step: each record that became `finished` has its outputs registered (the
 * finished attempt's only: a failed attempt's outputs are never on a finished record).
 */
export async function registerJobOutputs(
  deps: Pick<Deps, 'catalog' | 'clock' | 'tasks'>,
  changes: JobRecordChange[],
): Promise<{ registered: number }> {
  const finished = new Map<string, JobRecord[]>();
  for (const { before, after } of changes) {
    if (after?.state !== 'finished') continue;
    if (before?.state === 'finished' && before.attempt === after.attempt) continue;
    if ((after.outputs ?? []).length === 0) continue;
    const list = finished.get(after.taskId) ?? [];
    list.push(after);
    finished.set(after.taskId, list);
  }
  if (finished.size === 0) return { registered: 0 };
  const results = await deps.catalog.getEndpoint(RESULTS_ENDPOINT_ID);
  const resultsBucket = results?.bucket ?? '';
  let registered = 0;
  for (const [taskId, records] of finished) {
    const task = await taskContext(deps, taskId);
    if (task === undefined || isSystemOwner(task.owner)) continue;
    const at = deps.clock.now().toISOString();
    const entries = records.flatMap((r) =>
      outputEntries(task, r.jobIndex, r.outputs ?? [], resultsBucket, at),
    );
    registered += await registerInto(deps, task, entries);
  }
  return { registered };
}

async function taskContext(deps: Pick<Deps, 'tasks'>, taskId: string): Promise<TaskContext | undefined> {
  const [head, spec] = await Promise.all([deps.tasks.getHead(taskId), deps.tasks.getSpec(taskId)]);
  if (head === undefined || spec === undefined) return undefined;
  return {
    taskId,
    owner: head.owner,
    name: head.name,
    spec,
    ...(head.sizing === undefined ? {} : { sizing: head.sizing }),
  };
}

/**
 * The tasks feed's step, when a task reaches a final state: an event-service task's merged outputs
 * (the head's `outputs`) are registered (named by the merge job in their key), then the task's
 * output dataset is closed, if the task made it.
 */
export async function closeEndedTasksDatasets(
  deps: Pick<Deps, 'catalog' | 'clock' | 'tasks'>,
  changes: Array<{ before?: Partial<TaskHead>; after?: Partial<TaskHead> }>,
): Promise<{ closed: number }> {
  let closed = 0;
  for (const { before, after } of changes) {
    if (after?.taskId === undefined || after.state === undefined || !isFinalTaskState(after.state)) continue;
    if (before?.state !== undefined && isFinalTaskState(before.state)) continue;
    const task = await taskContext(deps, after.taskId);
    if (task === undefined || isSystemOwner(task.owner)) continue;
    const merged = after.outputs ?? [];
    if (merged.length > 0) {
      const results = await deps.catalog.getEndpoint(RESULTS_ENDPOINT_ID);
      const at = deps.clock.now().toISOString();
      const entries = merged.flatMap((output) => {
        const jobIndex = jobIndexOfKey(output.key);
        return jobIndex === undefined
          ? []
          : outputEntries(task, jobIndex, [output], results?.bucket ?? '', at);
      });
      await registerInto(deps, task, entries);
    }
    const did = outputDatasetOf(task.owner, task.spec);
    const dataset = await deps.catalog.getDataset(did);
    // A dataset another task made (or one a user made and named) is closed by its maker.
    if (dataset?.taskId !== task.taskId) continue;
    if (await deps.catalog.closeDataset(did, deps.clock.now().toISOString())) closed += 1;
  }
  return { closed };
}
