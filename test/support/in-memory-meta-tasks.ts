import type { Page, PageRequest } from '#core/api/common.ts';
import { ConflictError } from '#core/errors.ts';
import type { MetaTask } from '#core/meta-tasks/meta-task.ts';
import type { MetaTaskStore, MetaTaskWorkflow } from '#core/meta-tasks/ports.ts';

/** Meta-tasks in memory, with the store's conditional update on the version. */
export class InMemoryMetaTaskStore implements MetaTaskStore {
  readonly items = new Map<string, MetaTask>();

  async create(metaTask: MetaTask): Promise<void> {
    if (this.items.has(metaTask.metaTaskId))
      throw new ConflictError(`meta-task ${metaTask.metaTaskId} exists`);
    this.items.set(metaTask.metaTaskId, structuredClone(metaTask));
  }

  async get(metaTaskId: string): Promise<MetaTask | undefined> {
    const found = this.items.get(metaTaskId);
    return found === undefined ? undefined : structuredClone(found);
  }

  async update(metaTask: MetaTask): Promise<boolean> {
    const current = this.items.get(metaTask.metaTaskId);
    if (current === undefined || current.version !== metaTask.version - 1) return false;
    this.items.set(metaTask.metaTaskId, structuredClone(metaTask));
    return true;
  }

  async listByOwner(owner: string, page: PageRequest): Promise<Page<MetaTask>> {
    const all = [...this.items.values()]
      .filter((m) => m.owner === owner)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.metaTaskId.localeCompare(a.metaTaskId));
    const start = page.nextToken === undefined ? 0 : Number(page.nextToken);
    const items = all.slice(start, start + page.limit).map((m) => structuredClone(m));
    const next = start + page.limit;
    return { items, ...(next < all.length ? { nextToken: String(next) } : {}) };
  }
}

/** Records the meta-task workflow's starts and releases (no execution runs). */
export class RecordingMetaTaskWorkflow implements MetaTaskWorkflow {
  readonly started: Array<{ metaTaskId: string; retry?: number }> = [];
  readonly released: Array<{ token: string; metaTaskId: string }> = [];
  failStart = false;

  async start(metaTaskId: string, retry?: number): Promise<void> {
    if (this.failStart) throw new Error('state machine unavailable');
    this.started.push({ metaTaskId, ...(retry === undefined ? {} : { retry }) });
  }

  async releaseWait(token: string, metaTaskId: string): Promise<void> {
    this.released.push({ token, metaTaskId });
  }
}
