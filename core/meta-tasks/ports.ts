import type { Page, PageRequest } from '../api/common.ts';
import type { MetaTask } from './meta-task.ts';

export interface MetaTaskStore {
  /** Stores a new meta-task; ConflictError if the id exists. */
  create(metaTask: MetaTask): Promise<void>;
  /** The meta-task (strongly consistent), or undefined. */
  get(metaTaskId: string): Promise<MetaTask | undefined>;
  /**
   * Replaces the meta-task if its stored version is still `metaTask.version - 1` (every change
   * is conditional): false, writing nothing, when another change came first.
   */
  update(metaTask: MetaTask): Promise<boolean>;
  /** An owner's meta-tasks, newest first. */
  listByOwner(owner: string, page: PageRequest): Promise<Page<MetaTask>>;
}

/** The meta-task workflow (statemachines/meta-task.asl.json): one Standard execution per meta-task. */
export interface MetaTaskWorkflow {
  /** Starts the execution `<id>` (or `<id>-r<retry>` for a retry); idempotent per name. */
  start(metaTaskId: string, retry?: number): Promise<void>;
  /** Lets WaitForNodes go on (a used or gone token is ignored). */
  releaseWait(token: string, metaTaskId: string): Promise<void>;
}
