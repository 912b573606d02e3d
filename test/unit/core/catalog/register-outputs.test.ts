import { describe, expect, it } from 'vitest';
import { closeEndedTasksDatasets, OUTPUT_REGISTRAR } from '#core/catalog/register-outputs.ts';
import { ConflictError, ForbiddenError } from '#core/errors.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { attemptPrefix } from '#core/storage/object-keys.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { adler32 } from '#pilot/adler32.ts';
import { inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import {
  addPilot,
  addSite,
  alice,
  claimed,
  complete,
  generationSpec,
  jobRef,
  report,
  runningTask,
  taskOf,
} from '../scenario.ts';

function outputOf(taskId: string, jobIndex: number, attempt: number, name: string, body: string) {
  return {
    name,
    key: `${attemptPrefix(taskId, jobIndex, attempt)}${name}`,
    bytes: body.length,
    adler32: adler32(body),
  };
}

async function setup(spec = generationSpec(2, { name: 'zmumu' })) {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, spec);
  const pilotId = await addPilot(deps);
  return { deps, taskId, pilotId };
}

describe('output datasets', () => {
  it('makes the output dataset (open, with the task id) when the task is submitted', async () => {
    const { deps, taskId } = await setup();
    expect(await deps.catalog.getDataset({ scope: 'user.alice', name: 'zmumu.output' })).toMatchObject({
      state: 'open',
      taskId,
      owner: 'alice',
      files: 0,
    });
  });

  it("refuses an output dataset outside the owner's scopes (403) or closed (409) before storing the task", async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    await expect(
      submitTask(deps, alice, generationSpec(1, { outputDataset: 'user.bob:theirs' })),
    ).rejects.toThrow(ForbiddenError);
    await expect(
      submitTask(deps, alice, generationSpec(1, { outputDataset: 'user.bob:theirs' })),
    ).rejects.toThrow(/^outputDataset: /);
    await deps.catalog.createDataset({
      scope: 'user.alice',
      name: 'done',
      state: 'closed',
      owner: 'alice',
      files: 0,
      bytes: 0,
      events: 0,
      metadata: {},
      createdAt: 'x',
    });
    await expect(
      submitTask(deps, alice, generationSpec(1, { outputDataset: 'user.alice:done' })),
    ).rejects.toThrow(ConflictError);
    expect(await deps.tasks.listByOwner('alice', { limit: 10 })).toMatchObject({ items: [] });
  });

  it("registers a finished job's outputs (events, adler32, a replica in the results bucket), once", async () => {
    const { deps, taskId, pilotId } = await setup();
    const out = outputOf(taskId, 0, 1, 'events.root', 'some events');
    await claimed(deps, pilotId, jobRef(taskId, 0));
    await complete(deps, pilotId, report(jobRef(taskId, 0), PILOT_ERROR_CODES.OK, { outputs: [out] }));
    await settleJobChanges(deps);
    const ds = { scope: 'user.alice', name: 'zmumu.output' };
    const files = await deps.catalog.listFiles(ds, { limit: 10 });
    const name = `zmumu.${taskId}._000000.events.root`;
    expect(files.items).toEqual([
      expect.objectContaining({
        name,
        bytes: out.bytes,
        adler32: out.adler32,
        events: 10,
        registeredBy: OUTPUT_REGISTRAR,
      }),
    ]);
    const replicas = await deps.catalog.replicasOf([{ scope: 'user.alice', name }]);
    expect(replicas.get(`user.alice:${name}`)).toEqual([
      expect.objectContaining({
        endpointId: 'GLUON-RESULTS',
        state: 'available',
        url: `s3://gluon-test-bucket/${out.key}`,
      }),
    ]);
    expect(await deps.catalog.getDataset(ds)).toMatchObject({ files: 1, events: 10, bytes: out.bytes });
  });

  it("registers only the finished attempt's outputs of a job that failed once", async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, jobRef(taskId, 0));
    await complete(
      deps,
      pilotId,
      report(jobRef(taskId, 0), PILOT_ERROR_CODES.PAYLOAD_FAILED, {
        outputs: [outputOf(taskId, 0, 1, 'events.root', 'broken')],
      }),
    );
    await settleJobChanges(deps);
    expect(
      (await deps.catalog.listFiles({ scope: 'user.alice', name: 'zmumu.output' }, { limit: 10 })).items,
    ).toEqual([]);
    const good = outputOf(taskId, 0, 2, 'events.root', 'good events');
    await claimed(deps, pilotId, jobRef(taskId, 0, 2));
    await complete(deps, pilotId, report(jobRef(taskId, 0, 2), PILOT_ERROR_CODES.OK, { outputs: [good] }));
    await settleJobChanges(deps);
    const files = (await deps.catalog.listFiles({ scope: 'user.alice', name: 'zmumu.output' }, { limit: 10 }))
      .items;
    expect(files.map((f) => f.adler32)).toEqual([good.adler32]);
    const name = files[0]?.name ?? '';
    const replicas = (await deps.catalog.replicasOf([{ scope: 'user.alice', name }])).get(
      `user.alice:${name}`,
    );
    expect(replicas?.[0]?.url).toBe(`s3://gluon-test-bucket/${good.key}`);
  });

  it('closes the dataset when the task ends, once; a dataset another task made is left open', async () => {
    const { deps, taskId } = await setup();
    const head = await taskOf(deps, taskId);
    const ended = { ...head, state: 'done' as const };
    expect(await closeEndedTasksDatasets(deps, [{ before: head, after: ended }])).toEqual({ closed: 1 });
    expect(await closeEndedTasksDatasets(deps, [{ before: head, after: ended }])).toEqual({ closed: 0 });
    expect(await deps.catalog.getDataset({ scope: 'user.alice', name: 'zmumu.output' })).toMatchObject({
      state: 'closed',
    });
    // A second task naming an open dataset it did not make adds to it, and does not close it.
    await deps.catalog.createDataset({
      scope: 'user.alice',
      name: 'shared',
      state: 'open',
      owner: 'alice',
      files: 0,
      bytes: 0,
      events: 0,
      metadata: {},
      createdAt: 'x',
    });
    const other = await runningTask(
      deps,
      generationSpec(1, { name: 'other', outputDataset: 'user.alice:shared' }),
    );
    const otherHead = await taskOf(deps, other);
    await closeEndedTasksDatasets(deps, [{ before: otherHead, after: { ...otherHead, state: 'done' } }]);
    expect(await deps.catalog.getDataset({ scope: 'user.alice', name: 'shared' })).toMatchObject({
      state: 'open',
    });
  });
});
