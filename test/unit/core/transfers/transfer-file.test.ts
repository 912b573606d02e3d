import { describe, expect, it } from 'vitest';
import { createRule } from '#core/transfers/manage-rules.ts';
import { rulePrecondition } from '#core/transfers/rule-precondition.ts';
import { transferFile } from '#core/transfers/transfer-file.ts';
import type { InMemoryDeps } from '#test/support/in-memory-ports.ts';
import { ALICE, BOB, catalogWithDataset, DATASET, SCOPE } from './fixture.ts';

/** Delivers every message sent so far (as the transfer queue would), and what each did. */
async function deliverAll(deps: InMemoryDeps) {
  const outcomes = [];
  for (const { message } of deps.transferQueue.take()) outcomes.push(await transferFile(deps, message));
  return outcomes;
}

async function replicaAt(deps: InMemoryDeps, name: string, endpointId: string) {
  const replicas = await deps.catalog.replicasOf([{ scope: SCOPE, name }]);
  return replicas.get(`${SCOPE}:${name}`)?.find((r) => r.endpointId === endpointId);
}

describe('transferFile', () => {
  it('copies each file, verifies it, makes the replica available, moves the counters and settles the rule ok', async () => {
    const { deps, contents } = await catalogWithDataset(2);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    expect(await deliverAll(deps)).toEqual([
      { outcome: 'copied', bytes: Buffer.byteLength(contents.get('gen._000000.root') as string) },
      { outcome: 'copied', bytes: Buffer.byteLength(contents.get('gen._000001.root') as string) },
    ]);
    const copied = deps.copier.read({ bucket: 'bucket-b', key: `rucio/${SCOPE}/gen._000001.root` });
    expect(Buffer.from(copied as Uint8Array).toString()).toBe(contents.get('gen._000001.root'));
    expect(await replicaAt(deps, 'gen._000001.root', 'DATA-B')).toMatchObject({ state: 'available' });
    expect(await deps.rules.getRule(rule.ruleId)).toMatchObject({
      state: 'ok',
      counters: { files: 2, available: 2, copying: 0, failed: 0 },
    });
  });

  it('detects a corrupt copy by its checksum, deletes it, marks the replica corrupt and redoes it after a back-off', async () => {
    const { deps, contents } = await catalogWithDataset(1);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    // The first copy writes wrong bytes of the same size.
    const text = contents.get('gen._000000.root') as string;
    deps.copier.fault = () => {
      deps.copier.fault = undefined;
      return new TextEncoder().encode(text.replace('e', 'E'));
    };
    const [first] = await deliverAll(deps);
    expect(first).toMatchObject({ outcome: 'retrying', attempt: 2, delaySec: 2 });
    expect(first?.outcome === 'retrying' && first.reason).toMatch(/adler32/);
    expect(deps.copier.read({ bucket: 'bucket-b', key: `rucio/${SCOPE}/gen._000000.root` })).toBeUndefined();
    expect(await replicaAt(deps, 'gen._000000.root', 'DATA-B')).toMatchObject({ state: 'corrupt' });
    expect(deps.transferQueue.sent.map((s) => [s.message.attempt, s.delaySec])).toEqual([[2, 2]]);
    expect((await deps.rules.getRule(rule.ruleId))?.counters).toEqual({
      files: 1,
      available: 0,
      copying: 1,
      failed: 0,
    });

    expect(await deliverAll(deps)).toEqual([{ outcome: 'copied', bytes: Buffer.byteLength(text) }]);
    expect(await replicaAt(deps, 'gen._000000.root', 'DATA-B')).toMatchObject({ state: 'available' });
    expect((await deps.rules.getRule(rule.ruleId))?.state).toBe('ok');
  });

  it('changes nothing for a replayed message, before or after the lock moved on', async () => {
    const { deps } = await catalogWithDataset(1);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    const [{ message }] = deps.transferQueue.take() as unknown as [
      { message: Parameters<typeof transferFile>[1] },
    ];
    expect((await transferFile(deps, message)).outcome).toBe('copied');
    const after = await deps.rules.getRule(rule.ruleId);
    const copies = deps.copier.copies;
    expect(await transferFile(deps, message)).toMatchObject({ outcome: 'skipped' });
    expect(await deps.rules.getRule(rule.ruleId)).toEqual(after);
    expect(deps.copier.copies).toBe(copies);
    expect(deps.transferQueue.sent).toEqual([]);
  });

  it('gives up after the last attempt: the replica unavailable, the lock failed, the rule stuck', async () => {
    const { deps } = await catalogWithDataset(1);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    deps.copier.fault = () => {
      throw new Error('SlowDown');
    };
    const outcomes = [];
    for (let i = 0; i < 5 && deps.transferQueue.sent.length > 0; i++)
      outcomes.push(...(await deliverAll(deps)));
    expect(outcomes.map((o) => o.outcome)).toEqual(['retrying', 'retrying', 'failed']);
    expect(outcomes.flatMap((o) => (o.outcome === 'retrying' ? [o.delaySec] : []))).toEqual([2, 4]);
    expect(await replicaAt(deps, 'gen._000000.root', 'DATA-B')).toMatchObject({ state: 'unavailable' });
    expect(await deps.rules.getRule(rule.ruleId)).toMatchObject({
      state: 'stuck',
      counters: { files: 1, available: 0, copying: 0, failed: 1 },
    });
  });

  it('retries when no source replica is readable, and does nothing for a deleted rule', async () => {
    const { deps } = await catalogWithDataset(1);
    const source = await deps.catalog.getEndpoint('DATA-A');
    if (source === undefined) throw new Error('fixture: no DATA-A');
    await deps.catalog.putEndpoint({ ...source, readable: false });
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    const [outcome] = await deliverAll(deps);
    expect(outcome).toMatchObject({
      outcome: 'retrying',
      reason: expect.stringMatching(/no available replica/),
    });
    await deps.rules.deleteRule(rule.ruleId, '2026-12-02T10:01:00Z');
    expect(await deliverAll(deps)).toEqual([{ outcome: 'skipped', reason: 'rule deleted' }]);
  });

  it("sends a retry's message again when a redelivered older message finds the lock moved on (the send was lost)", async () => {
    const { deps } = await catalogWithDataset(1);
    await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    const [{ message }] = deps.transferQueue.take() as unknown as [
      { message: Parameters<typeof transferFile>[1] },
    ];
    deps.copier.fault = () => {
      deps.copier.fault = undefined;
      throw new Error('reset');
    };
    deps.transferQueue.failNextSend = true;
    await expect(transferFile(deps, message)).rejects.toThrow('SQS down');
    expect(await transferFile(deps, message)).toMatchObject({ outcome: 'skipped' });
    expect(deps.transferQueue.sent.map((s) => s.message.attempt)).toEqual([2]);
    expect(await deliverAll(deps)).toMatchObject([{ outcome: 'copied' }]);
  });
});

describe('rulePrecondition', () => {
  it('makes the task rule once, answers not ready while copying and ready when every file is at an endpoint', async () => {
    const { deps } = await catalogWithDataset(2);
    const input = { taskId: 't-000001', owner: 'bob', dataset: DATASET, rule: { endpoints: ['DATA-B'] } };
    // Bob only reads alice's dataset: the precondition's rule is the system's, made for him.
    const first = await rulePrecondition(deps, input);
    expect(first).toMatchObject({
      ready: false,
      ruleId: 'r-t-000001',
      progress: { files: 2, available: 0, copying: 2, failed: 0 },
    });
    expect(first.reason).toMatch(/2 of 2 file\(s\)/);
    const again = await rulePrecondition(deps, input);
    expect(again.ruleId).toBe(first.ruleId);
    expect(deps.rules.rules.size).toBe(1);
    expect(deps.transferQueue.sent).toHaveLength(2);

    await deliverAll(deps);
    const ready = await rulePrecondition(deps, input);
    expect(ready).toMatchObject({ ready: true, progress: { files: 2, available: 2, copying: 0, failed: 0 } });
    expect((await deps.rules.getRule('r-t-000001'))?.owner).toBe(BOB.sub);
  });

  it('is ready at once when the files are already at one of the endpoints', async () => {
    const { deps } = await catalogWithDataset(1);
    const answer = await rulePrecondition(deps, {
      taskId: 't-000002',
      owner: 'alice',
      dataset: DATASET,
      rule: { endpoints: ['DATA-A', 'DATA-B'] },
    });
    expect(answer).toMatchObject({
      ready: true,
      progress: { files: 1, available: 1, copying: 0, failed: 0 },
    });
    expect(deps.transferQueue.sent).toEqual([]);
  });
});
