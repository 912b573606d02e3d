/**
 * The resolve step of the task workflow (statemachines/task.asl.json), for a task that reads a
 * catalog dataset: it lists the dataset's files (filter applied) in attach order with their
 * replicas, and stores them beside the spec with the jobCount they make (one fenced write), so
 * that jobAt, the claim and `gluon why` see them. It runs before the split and, for an open-ended
 * task (`inputs.untilClosed`, PanDA's runUntilClosed), again after every wait for jobs: files
 * registered meanwhile become new jobs, handed to dispatch, until the dataset is closed.
 * Idempotent: a replay finds the files stored (the fence) and reads the head again.
 */

import { didText } from '../catalog/did.ts';
import type { EndpointFacts, ResolvedFile } from '../catalog/task-inputs.ts';
import { inputDataset, resolveFiles } from '../catalog/task-inputs.ts';
import type { Deps } from '../deps.ts';
import { FatalError, NotFoundError } from '../errors.ts';
import { dispatchJobs } from '../policies/dispatch-jobs.ts';
import type { RuleDeps } from '../transfers/manage-rules.ts';
import { rulePrecondition } from '../transfers/rule-precondition.ts';
import { jobCount, jobResources } from './split-task.ts';
import { isFinalTaskState, type TaskHead } from './task.ts';
import { readsDataset, type TaskSpec, withResolvedInputs } from './task-spec.ts';
import { dispatchEntry, loadHead } from './task-workflow.ts';

/** Files resolved in one step at most; a larger dataset is resolved over several steps (`more`). */
export const MAX_FILES_PER_STEP = 1000;
/** Catalog files listed per page. */
const LIST_PAGE = 500;
/** The poll period of an open dataset when the deployment sets none. */
export const DEFAULT_INPUT_POLL_SEC = 60;

export interface ResolveOutcome {
  /** The workflow may go on (split the task); false: wait `waitSec` and resolve again. */
  ready: boolean;
  /** Files resolved in all so far. */
  files: number;
  /** Files this step added. */
  added: number;
  /** Jobs this step added to a running task (handed to dispatch): the workflow waits for them. */
  waiting: boolean;
  /** More files are there to resolve at once (the step's limit was reached). */
  more: boolean;
  /** The dataset is closed (or the task reads none, or ended): no more files will come. */
  closed: boolean;
  /** The task takes files until its dataset is closed: the workflow resolves again after its jobs. */
  untilClosed: boolean;
  /** Seconds to wait before resolving again, when not ready or nothing new came. */
  waitSec: number;
  /** Why not ready (a gate's reason), for the execution history. */
  reason?: string;
}

/**
 * A precondition on a dataset task's inputs, checked before each resolution: the coordinator
 * connects the rules part's `rulePrecondition()` here (`inputs.rule`: replicate first). Not
 * ready: the workflow waits `waitSec` (or the poll period) and asks again.
 */
export type InputGate = (
  spec: TaskSpec,
  head: TaskHead,
) => Promise<{ ready: true } | { ready: false; reason: string; waitSec?: number }>;

/** The gate with no precondition: always ready. */
export const openInputGate: InputGate = async () => ({ ready: true });

/**
 * The gate of `inputs.rule` (PanDA's data carousel, simplest form): the task's rule (made once,
 * its id from the task's) must have put every file of the dataset at one of its endpoints before
 * the files are resolved and the jobs released; until then the task waits, and `gluon why` shows
 * the rule's progress. Tasks without `inputs.rule` pass.
 */
export function ruleGate(deps: RuleDeps): InputGate {
  return async (spec, head) => {
    const rule = spec.inputs?.rule;
    const dataset = spec.inputs?.dataset;
    if (rule === undefined || dataset === undefined) return { ready: true };
    const answer = await rulePrecondition(deps, { taskId: head.taskId, owner: head.owner, dataset, rule });
    return answer.ready
      ? { ready: true }
      : { ready: false, reason: `rule ${answer.ruleId}: ${answer.reason}` };
  };
}

export async function resolveInputs(
  deps: Pick<
    Deps,
    'tasks' | 'catalog' | 'sites' | 'policies' | 'queue' | 'clock' | 'settings' | 'accounting'
  >,
  taskId: string,
  inputGate: InputGate = openInputGate,
): Promise<ResolveOutcome> {
  const waitSec = deps.settings.inputPollSec ?? DEFAULT_INPUT_POLL_SEC;
  const head = await loadHead(deps, taskId);
  const spec = await deps.tasks.getSpec(taskId);
  if (spec === undefined) throw new NotFoundError(`task ${taskId} has no spec`);
  const untilClosed = spec.inputs?.untilClosed === true;
  const base = { files: head.inputFiles ?? 0, added: 0, waiting: false, more: false, untilClosed, waitSec };
  if (!readsDataset(spec) || head.cancelRequested || isFinalTaskState(head.state))
    return { ...base, ready: true, closed: true };
  if (head.inputsClosed === true) return { ...base, ready: true, closed: true };
  const gate = await inputGate(spec, head);
  if (!gate.ready)
    return { ...base, ready: false, closed: false, waitSec: gate.waitSec ?? waitSec, reason: gate.reason };

  const did = inputDataset(spec.inputs) as NonNullable<ReturnType<typeof inputDataset>>;
  // The state first: a dataset closed before its listing has every file in it.
  const dataset = await deps.catalog.getDataset(did);
  if (dataset === undefined) throw new NotFoundError(`inputs.dataset: dataset ${didText(did)} not found`);
  const facts = await endpointFacts(deps);
  const { files, cursor, more } = await newFiles(deps, spec, head, facts);
  const closed = dataset.state === 'closed' && !more;
  const from = head.inputFiles ?? 0;
  const endpoints = endpointSites(facts, files);
  const all = withResolvedInputs(spec, {
    files: [...(spec.inputs?.resolved?.files ?? []), ...files],
    endpoints: { ...(spec.inputs?.resolved?.endpoints ?? {}), ...endpoints },
    closed,
  });
  const jobs = jobCount(all, head.sizing);
  if (closed && from + files.length === 0) {
    const filter = spec.inputs?.filter === undefined ? '' : ' matching inputs.filter';
    throw new FatalError(`dataset ${didText(did)} is closed and has no files${filter}`);
  }
  checkResolved(all);
  if (files.length > 0 || closed) {
    const at = deps.clock.now().toISOString();
    await deps.tasks.addInputs(taskId, {
      from,
      files,
      endpoints,
      closed,
      jobCount: jobs,
      at,
      ...(cursor === undefined ? {} : { cursor }),
    });
  }
  // Refused or not, the stored head says what is resolved now (a replay wrote it before).
  const now = await loadHead(deps, taskId);
  const outcome = {
    ...base,
    files: now.inputFiles ?? 0,
    added: (now.inputFiles ?? 0) - from,
    more,
    closed: now.inputsClosed === true,
  };
  if (now.state === 'submitted') {
    // An open-ended task with no whole job yet waits for files rather than ending at once.
    const ready = now.jobCount > 0 || outcome.closed;
    return { ...outcome, ready: ready || more };
  }
  const addedJobs = now.jobCount - head.jobCount;
  if (addedJobs > 0 && now.state === 'running') {
    await deps.policies.activate(dispatchEntry(now, spec));
    await deps.policies.extendActive(taskId, {
      jobCount: now.jobCount,
      memoryMB: jobResources(all, now.sizing, now.jobCount - 1).memoryMB,
    });
    await dispatchJobs(deps);
    return { ...outcome, ready: true, waiting: true };
  }
  return { ...outcome, ready: true };
}

/**
 * The dataset's files not resolved yet, from the head's cursor (the page token where the last
 * listing stopped), the filter applied; at most MAX_FILES_PER_STEP.
 */
async function newFiles(
  deps: Pick<Deps, 'catalog'>,
  spec: TaskSpec,
  head: TaskHead,
  endpoints: ReadonlyMap<string, EndpointFacts>,
): Promise<{ files: ResolvedFile[]; cursor?: string; more: boolean }> {
  const did = inputDataset(spec.inputs) as NonNullable<ReturnType<typeof inputDataset>>;
  const known = new Set((spec.inputs?.resolved?.files ?? []).map((f) => f.name));
  const found: ResolvedFile[] = [];
  let cursor = head.inputsCursor;
  for (;;) {
    const page = await deps.catalog.listFiles(did, {
      limit: LIST_PAGE,
      ...(cursor === undefined ? {} : { nextToken: cursor }),
    });
    const replicas = await deps.catalog.replicasOf(page.items);
    found.push(...resolveFiles(page.items, replicas, endpoints, spec.inputs?.filter, known));
    // A last page (no token) is read again next time from the same cursor: files attached later land on it.
    if (page.nextToken === undefined) return { files: found, ...optionalCursor(cursor), more: false };
    cursor = page.nextToken;
    if (found.length >= MAX_FILES_PER_STEP) return { files: found, cursor, more: true };
  }
}

function optionalCursor(cursor: string | undefined): { cursor?: string } {
  return cursor === undefined ? {} : { cursor };
}

/** The endpoints (their sites and readability), read once per step. */
async function endpointFacts(deps: Pick<Deps, 'catalog'>): Promise<Map<string, EndpointFacts>> {
  const list = await deps.catalog.listEndpoints();
  return new Map(
    list.map((e) => [e.endpointId, { endpointId: e.endpointId, sites: e.sites, readable: e.readable }]),
  );
}

/** The sites close to each endpoint the new files have replicas at. */
function endpointSites(
  facts: ReadonlyMap<string, EndpointFacts>,
  files: ResolvedFile[],
): Record<string, string[]> {
  const used = new Set(files.flatMap((f) => f.replicas.map((r) => r.endpointId)));
  return Object.fromEntries([...used].map((id) => [id, facts.get(id)?.sites ?? []]));
}

/** What a spec's refinements check of files given in the spec, checked of the files resolved. */
function checkResolved(spec: TaskSpec): void {
  const scouts = spec.split.scouts;
  const files = spec.inputs?.resolved?.files.length ?? 0;
  if (scouts !== undefined && spec.inputs?.resolved?.closed === true) {
    const jobs = Math.ceil(files / (spec.split.filesPerJob ?? 1));
    if (scouts > jobs)
      throw new FatalError(
        `split.scouts: more than the task's ${jobs} jobs over the dataset's ${files} files`,
      );
  }
}
