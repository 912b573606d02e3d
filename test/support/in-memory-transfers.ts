/** In-memory RuleStore, TransferQueue and ObjectCopier for unit tests (the contract test runs the store beside DynamoDB's). */
import type { Page, PageRequest } from '#core/api/common.ts';
import { ValidationError } from '#core/errors.ts';
import { Adler32 } from '#core/storage/adler32.ts';
import type {
  ObjectCopier,
  ObjectRef,
  RuleStore,
  TransferQueue,
  TransferSettings,
} from '#core/transfers/ports.ts';
import type { Lock, Rule, TransferMessage } from '#core/transfers/rule.ts';

const clone = <T>(value: T): T => structuredClone(value);
const lockKey = (ruleId: string, file: { scope: string; name: string }, endpointId: string) =>
  `${ruleId}|${file.scope}:${file.name}|${endpointId}`;

function pageFrom<T>(all: T[], page: PageRequest): Page<T> {
  const start = page.nextToken === undefined ? 0 : Number(page.nextToken);
  if (!Number.isInteger(start) || start < 0) {
    throw new ValidationError('invalid page token', [
      { field: 'nextToken', message: 'not a token from a previous page' },
    ]);
  }
  const items = all.slice(start, start + page.limit);
  return { items, ...(items.length === page.limit ? { nextToken: String(start + page.limit) } : {}) };
}

export const TEST_TRANSFER_SETTINGS: TransferSettings = { baseSec: 2, maxDelaySec: 60, maxAttempts: 3 };

export class InMemoryRuleStore implements RuleStore {
  readonly rules = new Map<string, Rule>();
  readonly locks = new Map<string, Lock>();

  async createRule(rule: Rule, locks: Lock[]): Promise<boolean> {
    if (this.rules.has(rule.ruleId)) return false;
    this.rules.set(rule.ruleId, clone(rule));
    for (const lock of locks) this.locks.set(lockKey(lock.ruleId, lock, lock.endpointId), clone(lock));
    return true;
  }

  async getRule(ruleId: string): Promise<Rule | undefined> {
    const rule = this.rules.get(ruleId);
    return rule === undefined ? undefined : clone(rule);
  }

  async listRules(filter: { owner?: string; did?: string }, page: PageRequest): Promise<Page<Rule>> {
    const all = [...this.rules.values()]
      .filter(
        (r) =>
          (filter.owner === undefined || r.owner === filter.owner) &&
          (filter.did === undefined || r.did === filter.did),
      )
      .sort((a, b) => b.ruleId.localeCompare(a.ruleId))
      .map(clone);
    return pageFrom(all, page);
  }

  async deleteRule(ruleId: string, at: string): Promise<boolean> {
    const rule = this.rules.get(ruleId);
    if (rule === undefined || rule.state === 'deleted') return false;
    rule.state = 'deleted';
    rule.updatedAt = at;
    return true;
  }

  async getLock(
    ruleId: string,
    file: { scope: string; name: string },
    endpointId: string,
  ): Promise<Lock | undefined> {
    const lock = this.locks.get(lockKey(ruleId, file, endpointId));
    return lock === undefined ? undefined : clone(lock);
  }

  async listLocks(ruleId: string, page: PageRequest): Promise<Page<Lock>> {
    return pageFrom([...this.locks.values()].filter((l) => l.ruleId === ruleId).map(clone), page);
  }

  async finishLock(
    lock: Lock,
    outcome: 'available' | 'failed',
    at: string,
    reason?: string,
  ): Promise<boolean> {
    const stored = this.locks.get(lockKey(lock.ruleId, lock, lock.endpointId));
    const rule = this.rules.get(lock.ruleId);
    if (
      stored === undefined ||
      rule === undefined ||
      stored.state !== 'copying' ||
      stored.attempt !== lock.attempt
    )
      return false;
    stored.state = outcome;
    stored.updatedAt = at;
    if (reason === undefined) delete stored.reason;
    else stored.reason = reason;
    rule.counters.copying -= 1;
    rule.counters[outcome] += 1;
    rule.updatedAt = at;
    return true;
  }

  async retryLock(lock: Lock, at: string, reason: string): Promise<boolean> {
    const stored = this.locks.get(lockKey(lock.ruleId, lock, lock.endpointId));
    if (stored === undefined || stored.state !== 'copying' || stored.attempt !== lock.attempt) return false;
    stored.attempt += 1;
    stored.updatedAt = at;
    stored.reason = reason;
    return true;
  }

  async settleRule(ruleId: string, state: 'ok' | 'stuck', at: string): Promise<boolean> {
    const rule = this.rules.get(ruleId);
    if (rule === undefined || rule.state !== 'replicating' || rule.counters.copying !== 0) return false;
    rule.state = state;
    rule.updatedAt = at;
    return true;
  }
}

/** Messages sent, each with its delay; `take()` hands them out as SQS would. */
export class InMemoryTransferQueue implements TransferQueue {
  readonly sent: Array<{ message: TransferMessage; delaySec: number }> = [];
  failNextSend = false;

  async send(messages: TransferMessage[], delaySec = 0): Promise<void> {
    if (this.failNextSend) {
      this.failNextSend = false;
      throw new Error('SQS down');
    }
    for (const message of messages) this.sent.push({ message: clone(message), delaySec });
  }

  /** The messages sent so far, removed from the queue. */
  take(): Array<{ message: TransferMessage; delaySec: number }> {
    return this.sent.splice(0, this.sent.length);
  }
}

/** Buckets as maps of keys to bytes; faults can be injected per copy. */
export class InMemoryObjectCopier implements ObjectCopier {
  readonly buckets = new Map<string, Map<string, Uint8Array>>();
  /** Called before each copy; may return bytes to write instead (a corrupt copy) or throw. */
  fault: ((source: ObjectRef, destination: ObjectRef) => Uint8Array | undefined) | undefined;
  copies = 0;

  put(object: ObjectRef, bytes: Uint8Array | string): void {
    const bucket = this.buckets.get(object.bucket) ?? new Map<string, Uint8Array>();
    bucket.set(object.key, typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
    this.buckets.set(object.bucket, bucket);
  }

  read(object: ObjectRef): Uint8Array | undefined {
    return this.buckets.get(object.bucket)?.get(object.key);
  }

  async copy(source: ObjectRef, destination: ObjectRef): Promise<void> {
    this.copies += 1;
    const injected = this.fault?.(source, destination);
    const bytes = injected ?? this.read(source);
    if (bytes === undefined) throw new Error(`NoSuchKey: s3://${source.bucket}/${source.key}`);
    this.put(destination, bytes);
  }

  async checksum(object: ObjectRef): Promise<{ bytes: number; adler32: string } | undefined> {
    const bytes = this.read(object);
    return bytes === undefined
      ? undefined
      : { bytes: bytes.length, adler32: new Adler32().update(bytes).hex() };
  }

  async remove(object: ObjectRef): Promise<void> {
    this.buckets.get(object.bucket)?.delete(object.key);
  }
}

/** Rule ids r-000001, r-000002, … */
export class SequentialRuleIds {
  private next = 1;
  ruleId(): string {
    return `r-${String(this.next++).padStart(6, '0')}`;
  }
}
