import { describe, expect, it } from 'vitest';
import type { Replica } from '#core/catalog/catalog.ts';
import { explainJob } from '#core/tasks/explain-job.ts';
import { explainTask } from '#core/tasks/explain-task.ts';
import { resolveInputs, ruleGate } from '#core/tasks/resolve-inputs.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { enqueueJobs, splitTask } from '#core/tasks/task-workflow.ts';
import { type InMemoryDeps, inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addPilot, addSite, alice, claimed, jobRef } from '../scenario.ts';

const AT = '2026-12-01T10:00:00.000Z';
const SCOPE = 'user.alice';
const DATASET = { scope: SCOPE, name: 'gen.output' };

function spec(inputs: Partial<NonNullable<TaskSpecInput['inputs']>> = {}, filesPerJob = 1) {
  return parseTaskSpec({
    name: 'reco',
    payload: { command: 'reco' },
    inputs: { dataset: `${SCOPE}:gen.output`, ...inputs },
    split: { filesPerJob },
  });
}

async function setup(): Promise<InMemoryDeps> {
  const deps = inMemoryDeps({ settings: { inputPollSec: 2 } });
  await addSite(deps, { siteId: 'site-a' });
  await addSite(deps, { siteId: 'site-b' });
  await deps.catalog.putEndpoint({
    endpointId: 'DATA-A',
    kind: 's3',
    bucket: 'data-a',
    prefix: '',
    sites: ['site-a'],
    readable: true,
    writable: true,
  });
  await deps.catalog.putEndpoint({
    endpointId: 'DATA-B',
    kind: 's3',
    bucket: 'data-b',
    prefix: '',
    sites: ['site-b'],
    readable: true,
    writable: true,
  });
  await deps.catalog.createDataset({
    ...DATASET,
    state: 'open',
    owner: 'alice',
    files: 0,
    bytes: 0,
    events: 0,
    metadata: {},
    createdAt: AT,
  });
  return deps;
}

function replica(name: string, endpointId: string): Replica {
  return {
    scope: SCOPE,
    name,
    endpointId,
    state: 'available',
    url: `s3://${endpointId.toLowerCase()}/${name}`,
    updatedAt: AT,
  };
}

async function register(deps: InMemoryDeps, names: string[], endpoints = ['DATA-A'], run = 1) {
  await deps.catalog.registerFiles(
    names.map((name) => ({
      file: { scope: SCOPE, name, bytes: 10, adler32: '0000000a', events: 5, metadata: { run } },
      replicas: endpoints.map((e) => replica(name, e)),
    })),
    { dataset: DATASET, registeredBy: 'alice', at: AT },
  );
}

describe('submitting a dataset task', () => {
  it('refuses a dataset that does not exist, naming inputs.dataset, and writes nothing', async () => {
    const deps = inMemoryDeps();
    const error = await submitTask(deps, alice, spec()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'NotFoundError',
      message: expect.stringContaining('inputs.dataset'),
    });
    expect(await deps.tasks.listByOwner('alice', { limit: 10 })).toMatchObject({ items: [] });
  });
});

describe('resolveInputs', () => {
  it('resolves a closed dataset (filter applied) before the split; brokerage sends the jobs where the data is', async () => {
    const deps = await setup();
    await register(deps, ['f1', 'f2'], ['DATA-A'], 1);
    await register(deps, ['other'], ['DATA-A'], 2);
    await register(deps, ['f3'], ['DATA-A', 'DATA-B'], 1);
    await deps.catalog.closeDataset(DATASET, AT);
    const { taskId, jobCount } = await submitTask(deps, alice, spec({ filter: { run: 1 } }, 2));
    expect(jobCount).toBe(0);

    const outcome = await resolveInputs(deps, taskId);
    expect(outcome).toMatchObject({ ready: true, files: 3, added: 3, closed: true, untilClosed: false });
    expect((await deps.tasks.getHead(taskId))?.jobCount).toBe(2);
    const stored = await deps.tasks.getSpec(taskId);
    expect(stored?.inputs?.resolved?.files.map((f) => f.name)).toEqual([
      'user.alice:f1',
      'user.alice:f2',
      'user.alice:f3',
    ]);

    await splitTask(deps, taskId);
    const decision = await deps.tasks.getBrokerage(taskId);
    expect(decision?.chosen.map((c) => c.siteId)).toEqual(['site-a']);
    expect(decision?.rejected).toEqual([
      expect.objectContaining({
        siteId: 'site-b',
        filter: 'data',
        reason: `only 1/3 files of ${SCOPE}:gen.output close (at DATA-B), remote read not allowed: a site must hold them all`,
      }),
    ]);
    expect(decision?.data?.sites).toEqual([
      { siteId: 'site-a', closeFiles: 3, closeBytes: 30, endpoints: ['DATA-A'] },
      { siteId: 'site-b', closeFiles: 1, closeBytes: 10, endpoints: ['DATA-B'] },
    ]);
    const why = await explainTask(deps, alice, taskId);
    expect(why.findings).toContain(
      `Data (${SCOPE}:gen.output, 3 files, remote read not allowed): site-a: 3/3 files at DATA-A (close); site-b: 1/3 files at DATA-B (close).`,
    );

    // The claim hands the pilot the replicas its site may read, close ones first.
    let progress = await enqueueJobs(deps, taskId, 0);
    while (!progress.done) progress = await enqueueJobs(deps, taskId, progress.nextIndex);
    const pilotId = await addPilot(deps, 'site-a');
    const job = await claimed(deps, pilotId, jobRef(taskId, 1), {}, 'site-a');
    expect(job.inputs).toEqual([
      {
        name: 'user.alice:f3',
        adler32: '0000000a',
        bytes: 10,
        events: 5,
        replicas: [{ endpointId: 'DATA-A', url: 's3://data-a/f3' }],
      },
    ]);
    const jobWhy = await explainJob(deps, alice, taskId, 1);
    expect(jobWhy.findings).toContainEqual({
      code: 'data',
      message: `Job 1 reads 1 files of ${SCOPE}:gen.output: site-a: 1/1 files at DATA-A (close).`,
    });
  });

  it('with remote read keeps every site, weighs the close one more, and hands pilots the far replicas last', async () => {
    const deps = await setup();
    await register(deps, ['f1', 'f2'], ['DATA-A']);
    await deps.catalog.closeDataset(DATASET, AT);
    const { taskId } = await submitTask(deps, alice, spec({ remoteRead: true }));
    await resolveInputs(deps, taskId);
    await splitTask(deps, taskId);
    const decision = await deps.tasks.getBrokerage(taskId);
    const weights = Object.fromEntries(decision?.chosen.map((c) => [c.siteId, c]) ?? []);
    expect(weights['site-a']?.inputs.dataFactor).toBe(1);
    expect(weights['site-b']?.inputs.dataFactor).toBe(0.25);
    expect(weights['site-a']?.weight).toBeGreaterThan(weights['site-b']?.weight ?? 1);
  });

  it('fails a task whose closed dataset has no matching file', async () => {
    const deps = await setup();
    await register(deps, ['f1'], ['DATA-A'], 2);
    await deps.catalog.closeDataset(DATASET, AT);
    const { taskId } = await submitTask(deps, alice, spec({ filter: { run: 1 } }));
    await expect(resolveInputs(deps, taskId)).rejects.toMatchObject({
      name: 'FatalError',
      message: `dataset ${SCOPE}:gen.output is closed and has no files matching inputs.filter`,
    });
  });

  it('feeds an open-ended task: waits for a first job, adds jobs for new files while running, ends when closed', async () => {
    const deps = await setup();
    const { taskId } = await submitTask(deps, alice, spec({ untilClosed: true }, 2));
    expect(await resolveInputs(deps, taskId)).toMatchObject({ ready: false, files: 0, waitSec: 2 });
    await register(deps, ['f1']);
    // One file of two per job: no whole job yet.
    expect(await resolveInputs(deps, taskId)).toMatchObject({ ready: false, files: 1, added: 1 });
    await register(deps, ['f2', 'f3']);
    expect(await resolveInputs(deps, taskId)).toMatchObject({ ready: true, files: 3, added: 2 });
    expect((await deps.tasks.getHead(taskId))?.jobCount).toBe(1);
    await splitTask(deps, taskId);
    await enqueueJobs(deps, taskId, 0);

    // Running: nothing new, still open → poll again.
    expect(await resolveInputs(deps, taskId)).toMatchObject({
      ready: true,
      added: 0,
      waiting: false,
      closed: false,
      untilClosed: true,
    });
    await register(deps, ['f4']);
    expect(await resolveInputs(deps, taskId)).toMatchObject({ added: 1, waiting: true, closed: false });
    expect((await deps.tasks.getHead(taskId))?.jobCount).toBe(2);
    // Replayed: the fence holds, nothing is added twice.
    expect(await resolveInputs(deps, taskId)).toMatchObject({ added: 0, waiting: false });
    await register(deps, ['f5']);
    await deps.catalog.closeDataset(DATASET, AT);
    // Closed: the last, partial job is cut.
    expect(await resolveInputs(deps, taskId)).toMatchObject({ added: 1, waiting: true, closed: true });
    expect((await deps.tasks.getHead(taskId))?.jobCount).toBe(3);
    expect(await resolveInputs(deps, taskId)).toMatchObject({ added: 0, waiting: false, closed: true });
    const files = (await deps.tasks.getSpec(taskId))?.inputs?.resolved?.files.map((f) => f.name);
    expect(files).toEqual(['f1', 'f2', 'f3', 'f4', 'f5'].map((n) => `${SCOPE}:${n}`));
  });

  it('waits while the input gate holds the task, with the gate’s reason', async () => {
    const deps = await setup();
    await register(deps, ['f1']);
    const { taskId } = await submitTask(deps, alice, spec());
    const outcome = await resolveInputs(deps, taskId, async () => ({
      ready: false,
      reason: 'rule r-1 is replicating',
      waitSec: 5,
    }));
    expect(outcome).toMatchObject({ ready: false, waitSec: 5, reason: 'rule r-1 is replicating', files: 0 });
  });

  it('holds a task with inputs.rule until its rule put every file at the rule’s endpoints', async () => {
    const deps = await setup();
    await register(deps, ['f1', 'f2'], ['DATA-A']);
    const { taskId } = await submitTask(deps, alice, spec({ rule: { endpoints: ['DATA-B'] } }));
    const gate = ruleGate(deps);
    const held = await resolveInputs(deps, taskId, gate);
    expect(held).toMatchObject({ ready: false, files: 0 });
    expect(held.reason).toMatch(/^rule r-.*2 of 2 file\(s\) of user\.alice:gen\.output not yet at DATA-B/);
    // The rule was made once, and asked the transfer service for both copies.
    expect(deps.transferQueue.sent.map((s) => s.message.name).sort()).toEqual(['f1', 'f2']);
    await resolveInputs(deps, taskId, gate);
    expect(deps.transferQueue.sent).toHaveLength(2);
    // The copies land (as the transfer service records them): the task's files are resolved.
    for (const name of ['f1', 'f2']) await deps.catalog.putReplica(replica(name, 'DATA-B'));
    expect(await resolveInputs(deps, taskId, gate)).toMatchObject({ ready: true, files: 2 });
  });

  it('does nothing for a task with inputs.files', async () => {
    const deps = await setup();
    const files = parseTaskSpec({ name: 'p', payload: { command: 'x' }, inputs: { files: ['a'] } });
    const { taskId } = await submitTask(deps, alice, files);
    expect(await resolveInputs(deps, taskId)).toMatchObject({ ready: true, closed: true, added: 0 });
  });
});
