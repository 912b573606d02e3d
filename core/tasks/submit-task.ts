import type { SubmitTaskResponse } from '../api/tasks.ts';
import { type Did, didText } from '../catalog/did.ts';
import { checkOutputDataset, createOutputDataset, outputDatasetOf } from '../catalog/register-outputs.ts';
import { inputDataset } from '../catalog/task-inputs.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError, TransientError, ValidationError } from '../errors.ts';
import { rangeCount, taskEvents } from '../event-ranges/event-range.ts';
import { emptyRangeCounters } from '../event-ranges/range-counts.ts';
import { emptyJobCounts } from '../jobs/job-counts.ts';
import type { IdempotencyKeyHold } from './ports.ts';
import { jobCount } from './split-task.ts';
import type { Task } from './task.ts';
import type { TaskSpec } from './task-spec.ts';

/** How long an owner's idempotency key names the task it made (a retried submit within it gets that task). */
export const IDEMPOTENCY_KEY_TTL_SEC = 24 * 60 * 60;

/**
 * Stores a user's task (validated at the edge) and starts its workflow. If the workflow cannot be
 * started the task is marked failed (nothing is left half-accepted) and the caller may retry. A
 * site's test task (`siteTest`) is site health's alone: a user's is refused, naming the field.
 *
 * With an idempotency key (the `Idempotency-Key` header), the key is taken in the same write that
 * stores the task, so the same owner and key within IDEMPOTENCY_KEY_TTL_SEC make one task: a
 * repeat with the same spec answers as the first did (and starts the workflow if the first submit
 * stopped before it did); a repeat with another spec is a conflict naming the header.
 */
export async function submitTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids' | 'catalog'>,
  principal: Principal,
  spec: TaskSpec,
  idempotencyKey?: string,
): Promise<SubmitTaskResponse> {
  if (spec.siteTest !== undefined) {
    throw new ValidationError('invalid task spec', [
      { field: 'siteTest', message: 'only site health submits a site’s test tasks' },
    ]);
  }
  await checkInputDataset(deps, spec);
  // The output dataset's scope and state are checked before anything is written.
  const outputDataset = await checkOutputDataset(deps, principal.sub, spec);
  return submitAs(
    deps,
    principal.sub,
    spec,
    idempotencyKey,
    undefined,
    outputDataset && { catalog: deps.catalog, did: outputDataset },
  );
}

/**
 * A dataset task's dataset must exist when it is submitted (its files are resolved later, by the
 * workflow). Catalog reads are open to every user, as in Rucio.
 */
async function checkInputDataset(deps: Pick<Deps, 'catalog'>, spec: TaskSpec): Promise<void> {
  const did = inputDataset(spec.inputs);
  if (did === undefined) return;
  if ((await deps.catalog.getDataset(did)) === undefined)
    throw new NotFoundError(`inputs.dataset: no dataset ${didText(did)}`);
}

/** The same for a task the system submits itself (a site's test task): owned by `owner`. */
export async function submitSystemTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids'>,
  owner: `system:${string}`,
  spec: TaskSpec,
): Promise<SubmitTaskResponse> {
  return submitAs(deps, owner, spec);
}

/**
 * The same for a node of a meta-task: owned by the meta-task's owner, recording the meta-task and
 * node; the idempotency key makes a replayed advance step find the task it started.
 */
export async function submitNodeTask(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids' | 'catalog'>,
  owner: string,
  spec: TaskSpec,
  metaTask: { metaTaskId: string; node: string },
  idempotencyKey: string,
): Promise<SubmitTaskResponse> {
  // Its output dataset is made as a user's task's is (the meta-task's spec checked its name and
  // scope), so that the node's children find its outputs there.
  const did = outputDatasetOf(owner, spec);
  return submitAs(deps, owner, spec, idempotencyKey, metaTask, { catalog: deps.catalog, did });
}

async function submitAs(
  deps: Pick<Deps, 'tasks' | 'workflow' | 'clock' | 'ids'>,
  owner: string,
  spec: TaskSpec,
  idempotencyKey?: string,
  metaTask?: { metaTaskId: string; node: string },
  /** The user's output dataset (checked), made once the task is stored; system tasks keep none. */
  outputDataset?: { catalog: Deps['catalog']; did: Did },
): Promise<SubmitTaskResponse> {
  const now = deps.clock.now();
  const at = now.toISOString();
  const task: Task = {
    taskId: deps.ids.taskId(),
    owner,
    name: spec.name,
    spec,
    state: 'submitted',
    jobCount: jobCount(spec),
    jobsEnqueued: 0,
    counts: emptyJobCounts(),
    rangeCounters: emptyRangeCounters(),
    ...(spec.eventService === undefined
      ? {}
      : { rangeCount: rangeCount(spec), events: taskEvents(spec), rangesEnqueued: 0 }),
    siteIds: [],
    cancelRequested: false,
    cancelSwept: false,
    createdAt: at,
    updatedAt: at,
    history: [{ state: 'submitted', at }],
    ...(metaTask === undefined ? {} : { metaTask }),
  };
  const hold: IdempotencyKeyHold | undefined =
    idempotencyKey === undefined
      ? undefined
      : {
          key: idempotencyKey,
          expiresAt: new Date(now.getTime() + IDEMPOTENCY_KEY_TTL_SEC * 1000).toISOString(),
          now: at,
        };
  const outcome = await deps.tasks.create(task, hold);
  if (!outcome.created) return replay(deps, owner, spec, idempotencyKey as string, outcome.taskId);
  if (outputDataset !== undefined) await createOutputDataset(outputDataset, task, outputDataset.did);
  try {
    await deps.workflow.startTask(task.taskId);
  } catch (error) {
    await deps.tasks.transition(task.taskId, 'fail', {
      at: deps.clock.now().toISOString(),
      reason: `workflow could not be started: ${(error as Error).message}`,
    });
    // The failed task must not answer the retry the 503 asks for.
    if (idempotencyKey !== undefined)
      await deps.tasks.releaseIdempotencyKey(owner, idempotencyKey, task.taskId);
    throw new TransientError('the task workflow could not be started; submit again');
  }
  return { taskId: task.taskId, state: task.state, jobCount: task.jobCount };
}

/** The answer to a repeated submit: the task the key made, if the spec is the same. */
async function replay(
  deps: Pick<Deps, 'tasks' | 'workflow'>,
  owner: string,
  spec: TaskSpec,
  key: string,
  taskId: string,
): Promise<SubmitTaskResponse> {
  const first = await deps.tasks.get(taskId);
  if (first === undefined || first.owner !== owner) {
    throw new TransientError(`the task of Idempotency-Key ${key} cannot be read yet; submit again`);
  }
  if (canonicalJson(first.spec) !== canonicalJson(spec)) {
    throw new ConflictError(
      `Idempotency-Key ${key} was used for another task spec (task ${taskId}); send a new key for a new task`,
    );
  }
  // The first submit may have stopped between storing the task and starting its workflow.
  if (first.state === 'submitted') await deps.workflow.startTask(taskId);
  return { taskId, state: first.state, jobCount: first.jobCount };
}

/** JSON with object keys sorted, so two equal specs compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
