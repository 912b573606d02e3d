import type { Deps } from '../deps.ts';
import { submitNodeTask } from '../tasks/submit-task.ts';
import { isFinalTaskState, type TaskHead } from '../tasks/task.ts';
import { changeMetaTask } from './change-meta-task.ts';
import {
  isFinalMetaTaskState,
  type MetaTask,
  type MetaTaskState,
  type NodeRecord,
  nodeDatasetOfTry,
} from './meta-task.ts';
import { nodeTaskSpec } from './meta-task-spec.ts';
import { planAdvance } from './readiness.ts';

export type AdvanceDeps = Pick<Deps, 'metaTasks' | 'tasks' | 'workflow' | 'clock' | 'ids' | 'catalog'>;

/** What the workflow's Advance step answers: whether the meta-task ended (then Finalize). */
export interface AdvanceOutcome {
  metaTaskId: string;
  ended: boolean;
  state: MetaTaskState;
}

/**
 * The meta-task workflow's Advance step: learns which running nodes' tasks ended, skips the nodes
 * below a failure, starts every ready node as a task (through the submit use case; the task
 * records its meta-task and node) and decides whether the meta-task ended. Safe to run again:
 * a node's task is submitted with an idempotency key of its own (meta-task, node, try), so a
 * replay finds the task it started.
 */
export async function advanceMetaTask(deps: AdvanceDeps, metaTaskId: string): Promise<AdvanceOutcome> {
  const metaTask = await changeMetaTask(deps, metaTaskId, async (m) => {
    if (isFinalMetaTaskState(m.state)) return undefined;
    let changed = await learnNodeEnds(deps, m);
    const plan = planAdvance(m.order, m.edges, m.nodes, {
      paused: m.state === 'paused',
      cancelRequested: m.cancelRequested,
    });
    for (const { name, reason } of plan.skip) {
      const node = nodeOf(m, name);
      node.state = 'skipped';
      node.reason = reason;
      changed = true;
    }
    for (const name of plan.start) {
      const node = nodeOf(m, name);
      const template = nodeTaskSpec(m.spec, m.edges, name, m.owner);
      // The node writes a dataset of its own try; a child reads what its parent's try wrote.
      const parent = m.edges.find((e) => e.to === name)?.from;
      const parentDataset = parent === undefined ? undefined : nodeOf(m, parent).outputDataset;
      const outputDataset = nodeDatasetOfTry(
        template.outputDataset as string,
        metaTaskId,
        node.history.length,
      );
      const spec = {
        ...template,
        outputDataset,
        ...(template.inputs?.dataset !== undefined && parentDataset !== undefined
          ? { inputs: { ...template.inputs, dataset: parentDataset } }
          : {}),
      };
      const { taskId } = await submitNodeTask(
        deps,
        m.owner,
        spec,
        { metaTaskId, node: name },
        `${metaTaskId}.${name}.${node.history.length}`,
      );
      node.state = 'running';
      node.taskId = taskId;
      node.outputDataset = outputDataset;
      delete node.reason;
      changed = true;
    }
    if (plan.end !== undefined) {
      if (plan.end === 'cancelled') {
        for (const node of m.nodes) {
          if (node.state !== 'pending') continue;
          node.state = 'cancelled';
          node.reason = 'the meta-task was cancelled';
        }
      }
      m.state = plan.end;
      m.endedAt = deps.clock.now().toISOString();
      delete m.waitToken;
      changed = true;
    }
    return changed ? m : undefined;
  });
  return { metaTaskId, ended: isFinalMetaTaskState(metaTask.state), state: metaTask.state };
}

/**
 * The workflow's way out when a step failed for good: the meta-task ends failed with the error
 * as its reason (its running nodes' tasks go on; the owner may cancel them or retry).
 */
export async function failMetaTask(
  deps: Pick<Deps, 'metaTasks' | 'clock'>,
  metaTaskId: string,
  error: string,
): Promise<AdvanceOutcome> {
  const metaTask = await changeMetaTask(deps, metaTaskId, (m) => {
    if (isFinalMetaTaskState(m.state)) return undefined;
    m.state = 'failed';
    m.reason = `the meta-task workflow failed: ${error}`.slice(0, 1000);
    m.endedAt = deps.clock.now().toISOString();
    delete m.waitToken;
    return m;
  });
  return { metaTaskId, ended: true, state: metaTask.state };
}

/** Running nodes whose task ended take its end state and counts; true when one did. */
async function learnNodeEnds(deps: Pick<Deps, 'tasks'>, m: MetaTask): Promise<boolean> {
  let changed = false;
  for (const node of m.nodes) {
    if (node.state !== 'running' || node.taskId === undefined) continue;
    const progress = await deps.tasks.getProgress(node.taskId);
    if (progress === undefined || !isFinalTaskState(progress.state)) continue;
    node.state = progress.state as NodeRecord['state'];
    node.jobCount = progress.jobCount;
    node.finished = progress.counts.finished;
    if (progress.reason !== undefined && progress.state !== 'done') node.reason = progress.reason;
    changed = true;
  }
  return changed;
}

function nodeOf(m: MetaTask, name: string): NodeRecord {
  const node = m.nodes.find((n) => n.name === name);
  if (node === undefined) throw new RangeError(`meta-task ${m.metaTaskId} has no node ${name}`);
  return node;
}

/**
 * The workflow's WaitForNodes step: stores the token, then releases it at once if there is
 * something to do already (a node's task ended before the token was stored). Each side writes
 * first and checks second, so the last one sees the other's write.
 */
export async function waitForNodes(
  deps: Pick<Deps, 'metaTasks' | 'metaTaskWorkflow' | 'tasks' | 'clock'>,
  metaTaskId: string,
  token: string,
): Promise<void> {
  await changeMetaTask(deps, metaTaskId, (m) =>
    isFinalMetaTaskState(m.state) ? undefined : { ...m, waitToken: token },
  );
  await releaseMetaTaskWaitIfReady(deps, metaTaskId);
}

/**
 * Lets WaitForNodes go on when Advance has something to do: a running node's task ended, or a
 * node is to be skipped or started (after a resume), or the meta-task is to end (cancelled with
 * nothing running). Releasing twice is harmless: a used token is refused and ignored.
 */
export async function releaseMetaTaskWaitIfReady(
  deps: Pick<Deps, 'metaTasks' | 'metaTaskWorkflow' | 'tasks'>,
  metaTaskId: string,
): Promise<boolean> {
  const m = await deps.metaTasks.get(metaTaskId);
  if (m === undefined || m.waitToken === undefined || isFinalMetaTaskState(m.state)) return false;
  let ready = false;
  for (const node of m.nodes) {
    if (node.state !== 'running' || node.taskId === undefined) continue;
    const head = await deps.tasks.getHead(node.taskId);
    if (head !== undefined && isFinalTaskState(head.state)) ready = true;
  }
  if (!ready) {
    const plan = planAdvance(m.order, m.edges, m.nodes, {
      paused: m.state === 'paused',
      cancelRequested: m.cancelRequested,
    });
    ready = plan.skip.length > 0 || plan.start.length > 0 || plan.end !== undefined;
  }
  if (!ready) return false;
  await deps.metaTaskWorkflow.releaseWait(m.waitToken, metaTaskId);
  return true;
}

/** One change of a task head, as the tasks table's change feed gives it. */
export interface NodeTaskChange {
  before?: Partial<TaskHead>;
  after?: Partial<TaskHead>;
}

/**
 * Hook of the tasks change feed: a meta-task node's task that reached a final state wakes its
 * meta-task's workflow. Returns the meta-tasks woken.
 */
export async function wakeMetaTasksOfEndedTasks(
  deps: Pick<Deps, 'metaTasks' | 'metaTaskWorkflow' | 'tasks'>,
  changes: readonly NodeTaskChange[],
): Promise<number> {
  const ids = new Set<string>();
  for (const { before, after } of changes) {
    if (after?.metaTask === undefined || after.state === undefined || before?.state === after.state) continue;
    if (isFinalTaskState(after.state)) ids.add(after.metaTask.metaTaskId);
  }
  let woken = 0;
  for (const id of ids) if (await releaseMetaTaskWaitIfReady(deps, id)) woken += 1;
  return woken;
}
