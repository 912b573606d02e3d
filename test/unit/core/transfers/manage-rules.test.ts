import { describe, expect, it } from 'vitest';
import { ForbiddenError, NotFoundError, ValidationError } from '#core/errors.ts';
import { createRule, getRule, listRules, removeRule } from '#core/transfers/manage-rules.ts';
import { ADMIN, ALICE, BOB, catalogWithDataset, DATASET, SCOPE } from './fixture.ts';

async function issuesOf(promise: Promise<unknown>): Promise<Array<{ field: string }>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues;
}

describe('createRule', () => {
  it('makes a lock per file at the first endpoint not holding it, marks the replicas copying and sends a message each', async () => {
    const { deps } = await catalogWithDataset(2);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B', 'DATA-C'] });
    expect(rule).toMatchObject({
      ruleId: 'r-000001',
      owner: 'alice',
      didType: 'dataset',
      state: 'replicating',
      counters: { files: 2, available: 0, copying: 2, failed: 0 },
    });
    const sent = deps.transferQueue.take().map((s) => s.message);
    expect(sent.map((m) => [m.name, m.endpointId, m.attempt])).toEqual([
      ['gen._000000.root', 'DATA-B', 1],
      ['gen._000001.root', 'DATA-B', 1],
    ]);
    const replicas = await deps.catalog.replicasOf([{ scope: SCOPE, name: 'gen._000000.root' }]);
    expect(replicas.get(`${SCOPE}:gen._000000.root`)?.find((r) => r.endpointId === 'DATA-B')).toMatchObject({
      state: 'copying',
      url: `s3://bucket-b/rucio/${SCOPE}/gen._000000.root`,
    });
  });

  it('counts a replica already available at a rule endpoint, and is ok at once when nothing is missing', async () => {
    const { deps } = await catalogWithDataset(2);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-A', 'DATA-B'] });
    expect(rule.state).toBe('ok');
    expect(rule.counters).toEqual({ files: 2, available: 2, copying: 0, failed: 0 });
    expect(deps.transferQueue.take()).toEqual([]);
  });

  it('takes a file DID as well as a dataset', async () => {
    const { deps } = await catalogWithDataset(2);
    const rule = await createRule(deps, ALICE, {
      did: `${SCOPE}:gen._000001.root`,
      copies: 2,
      endpoints: ['DATA-A', 'DATA-C', 'DATA-B'],
    });
    expect(rule.didType).toBe('file');
    expect(rule.counters).toEqual({ files: 1, available: 1, copying: 1, failed: 0 });
    expect(deps.transferQueue.take().map((s) => s.message.endpointId)).toEqual(['DATA-C']);
  });

  it('refuses more copies than endpoints (400 naming copies) and writes nothing', async () => {
    const { deps } = await catalogWithDataset(1);
    const issues = await issuesOf(
      createRule(deps, ALICE, { did: DATASET, copies: 3, endpoints: ['DATA-B', 'DATA-C'] }),
    );
    expect(issues.map((i) => i.field)).toEqual(['copies']);
    expect(deps.rules.rules.size).toBe(0);
    expect(deps.rules.locks.size).toBe(0);
    expect(deps.transferQueue.sent).toEqual([]);
    const replicas = await deps.catalog.replicasOf([{ scope: SCOPE, name: 'gen._000000.root' }]);
    expect(replicas.get(`${SCOPE}:gen._000000.root`)?.map((r) => r.endpointId)).toEqual(['DATA-A']);
  });

  it('refuses an unknown or a non-writable endpoint (400 naming endpoints)', async () => {
    const { deps } = await catalogWithDataset(1);
    const issues = await issuesOf(
      createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['NOWHERE', 'TAPE'] }),
    );
    expect(issues).toEqual([
      { field: 'endpoints', message: 'no storage endpoint NOWHERE' },
      { field: 'endpoints', message: 'TAPE is not writable' },
    ]);
    expect(deps.rules.rules.size).toBe(0);
  });

  it('refuses bad fields by name: a DID without a scope, duplicate endpoints, zero copies', async () => {
    const { deps } = await catalogWithDataset(1);
    const issues = await issuesOf(
      createRule(deps, ALICE, { did: 'no-scope', copies: 0, endpoints: ['DATA-B', 'DATA-B'] }),
    );
    expect(issues.map((i) => i.field).sort()).toEqual(['copies', 'did', 'endpoints']);
  });

  it("refuses another user's scope (403 naming did) but admits the scope's owners and admins", async () => {
    const { deps } = await catalogWithDataset(1);
    const refused = await createRule(deps, BOB, { did: DATASET, copies: 1, endpoints: ['DATA-B'] }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect((refused as Error).message).toMatch(/^did:/);
    expect(deps.rules.rules.size).toBe(0);
    await expect(
      createRule(deps, ADMIN, { did: DATASET, copies: 1, endpoints: ['DATA-B'] }),
    ).resolves.toMatchObject({
      owner: 'ops',
    });
  });

  it('answers 404 for an unknown DID', async () => {
    const { deps } = await catalogWithDataset(1);
    await expect(
      createRule(deps, ALICE, { did: `${SCOPE}:nothing`, copies: 1, endpoints: ['DATA-B'] }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('sets expiresAt from lifetimeSec', async () => {
    const { deps } = await catalogWithDataset(1);
    const rule = await createRule(deps, ALICE, {
      did: DATASET,
      copies: 1,
      endpoints: ['DATA-B'],
      lifetimeSec: 3600,
    });
    expect(rule.expiresAt).toBe('2026-12-02T11:00:00.000Z');
  });
});

describe('reading and removing rules', () => {
  it("lists the caller's rules (admins everyone's), by DID; another user's rule is not found", async () => {
    const { deps } = await catalogWithDataset(1);
    const mine = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    await createRule(deps, ADMIN, { did: `${SCOPE}:gen._000000.root`, copies: 1, endpoints: ['DATA-C'] });
    expect((await listRules(deps, ALICE, { limit: 10 })).items.map((r) => r.ruleId)).toEqual([mine.ruleId]);
    expect((await listRules(deps, ADMIN, { limit: 10 })).items).toHaveLength(2);
    expect((await listRules(deps, ADMIN, { limit: 10, did: DATASET })).items.map((r) => r.ruleId)).toEqual([
      mine.ruleId,
    ]);
    await expect(getRule(deps, BOB, mine.ruleId)).rejects.toBeInstanceOf(NotFoundError);
    await expect(getRule(deps, ADMIN, mine.ruleId)).resolves.toMatchObject({ ruleId: mine.ruleId });
  });

  it('removes a rule (deleted; its replicas stay), and a second remove answers it as it is', async () => {
    const { deps } = await catalogWithDataset(1);
    const rule = await createRule(deps, ALICE, { did: DATASET, copies: 1, endpoints: ['DATA-B'] });
    await expect(removeRule(deps, BOB, rule.ruleId)).rejects.toBeInstanceOf(NotFoundError);
    expect((await removeRule(deps, ALICE, rule.ruleId)).state).toBe('deleted');
    expect((await removeRule(deps, ALICE, rule.ruleId)).state).toBe('deleted');
    const replicas = await deps.catalog.replicasOf([{ scope: SCOPE, name: 'gen._000000.root' }]);
    expect(replicas.get(`${SCOPE}:gen._000000.root`)).toHaveLength(2);
  });
});
