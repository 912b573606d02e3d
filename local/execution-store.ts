import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** One workflow execution as the local Step Functions keeps it (`<stateDir>/executions.json`). */
export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  /** The execution input as given (a JSON text). */
  input: string;
  status: ExecutionStatus;
  startedAt: string;
  stoppedAt?: string;
  /** The output (a JSON text) when SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
  /** How many times the execution was started again after the local stack stopped mid-way. */
  restarts?: number;
}

interface StoredFile {
  version: 1;
  executions: ExecutionRecord[];
}

export const EXECUTIONS_FILE = 'executions.json';
/** Finished executions kept in the file (the newest); running ones are always kept. */
const KEEP_FINISHED = 1000;

/**
 * Execution records in memory, written through to one JSON file. Every write replaces the file
 * atomically (temporary file + rename) and writes are serialized, so a crash leaves either the
 * old or the new file, never half of one.
 */
export class ExecutionStore {
  readonly path: string;
  readonly #byArn = new Map<string, ExecutionRecord>();
  #writes: Promise<void> = Promise.resolve();

  private constructor(path: string, records: ExecutionRecord[]) {
    this.path = path;
    for (const record of records) this.#byArn.set(record.executionArn, record);
  }

  static async open(stateDir: string): Promise<ExecutionStore> {
    await mkdir(stateDir, { recursive: true });
    const path = join(stateDir, EXECUTIONS_FILE);
    let records: ExecutionRecord[] = [];
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<StoredFile>;
      if (!Array.isArray(parsed.executions)) throw new Error('no "executions" array');
      records = parsed.executions;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`cannot read ${path}: ${(error as Error).message} (move it away to start afresh)`);
      }
    }
    return new ExecutionStore(path, records);
  }

  get(executionArn: string): ExecutionRecord | undefined {
    const record = this.#byArn.get(executionArn);
    return record === undefined ? undefined : { ...record };
  }

  list(): ExecutionRecord[] {
    return [...this.#byArn.values()].map((r) => ({ ...r }));
  }

  running(): ExecutionRecord[] {
    return this.list().filter((r) => r.status === 'RUNNING');
  }

  /** Stores (or replaces) a record and resolves once the file holds it. */
  put(record: ExecutionRecord): Promise<void> {
    this.#byArn.set(record.executionArn, { ...record });
    return this.#persist();
  }

  /** Resolves when every write so far has reached the file. */
  flushed(): Promise<void> {
    return this.#writes;
  }

  #persist(): Promise<void> {
    this.#prune();
    const snapshot: StoredFile = { version: 1, executions: [...this.#byArn.values()] };
    const text = `${JSON.stringify(snapshot, null, 1)}\n`;
    const write = this.#writes.then(async () => {
      const tmp = `${this.path}.${process.pid}.${randomUUID()}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    // A failed write must not block the ones after it; the caller still sees its own failure.
    this.#writes = write.catch(() => {});
    return write;
  }

  #prune(): void {
    const finished = [...this.#byArn.values()].filter((r) => r.status !== 'RUNNING');
    if (finished.length <= KEEP_FINISHED) return;
    finished.sort((a, b) => (a.stoppedAt ?? a.startedAt).localeCompare(b.stoppedAt ?? b.startedAt));
    for (const old of finished.slice(0, finished.length - KEEP_FINISHED))
      this.#byArn.delete(old.executionArn);
  }
}
