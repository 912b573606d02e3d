import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#lambdas/tasks/resolve-inputs/handler.ts';
import { createHandlerHarness, type HandlerHarness, invoke } from '#test/support/handler-harness.ts';
import { submitTask } from '../task-flow.ts';

let h: HandlerHarness;
const AT = '2026-12-01T10:00:00.000Z';
const SCOPE = 'user.alice';

beforeAll(async () => {
  h = await createHandlerHarness();
  await h.deps.catalog.putEndpoint({
    endpointId: 'DATA-A',
    kind: 's3',
    bucket: 'data-a',
    prefix: '',
    sites: ['cern'],
    readable: true,
    writable: true,
  });
});

afterAll(async () => {
  await h?.close();
});

function resolveInputs(input: unknown) {
  return invoke(createHandler(h.deps), input as { taskId: string }, 'resolve-inputs');
}

/** A dataset of `files` files (f0…), each with a replica at DATA-A; closed unless told. */
async function dataset(name: string, files: number, close = true): Promise<string> {
  const did = { scope: SCOPE, name };
  await h.deps.catalog.createDataset({
    ...did,
    state: 'open',
    owner: 'alice',
    files: 0,
    bytes: 0,
    events: 0,
    metadata: {},
    createdAt: AT,
  });
  if (files > 0)
    await h.deps.catalog.registerFiles(
      Array.from({ length: files }, (_, i) => ({
        file: {
          scope: SCOPE,
          name: `${name}.f${i}`,
          bytes: 10 + i,
          adler32: '0000000a',
          events: 3,
          metadata: {},
        },
        replicas: [
          {
            scope: SCOPE,
            name: `${name}.f${i}`,
            endpointId: 'DATA-A',
            state: 'available' as const,
            url: `s3://data-a/${name}.f${i}`,
            updatedAt: AT,
          },
        ],
      })),
      { dataset: did, registeredBy: 'alice', at: AT },
    );
  if (close) await h.deps.catalog.closeDataset(did, AT);
  return `${SCOPE}:${name}`;
}

function spec(inputs: Record<string, unknown>, filesPerJob = 2) {
  return { name: 'reco', payload: { command: 'reco' }, inputs, split: { filesPerJob } };
}

describe('resolve-inputs handler', () => {
  it('stores a closed dataset’s files beside the spec in the tasks table and sets the jobCount they make', async () => {
    const taskId = await submitTask(h, spec({ dataset: await dataset('closed', 450) }));
    expect(await resolveInputs({ taskId })).toMatchObject({
      ready: true,
      files: 450,
      added: 450,
      closed: true,
    });
    expect(await h.deps.tasks.getHead(taskId)).toMatchObject({
      jobCount: 225,
      inputFiles: 450,
      inputsClosed: true,
    });
    // Several #inputs# items (200 files each), read back in order with the spec in one Query.
    const task = await h.deps.tasks.get(taskId);
    const files = task?.spec.inputs?.resolved?.files ?? [];
    expect(files).toHaveLength(450);
    expect(files[449]).toEqual({
      name: `${SCOPE}:closed.f449`,
      bytes: 459,
      adler32: '0000000a',
      events: 3,
      replicas: [{ endpointId: 'DATA-A', url: 's3://data-a/closed.f449' }],
    });
    expect(task?.spec.inputs?.resolved?.endpoints).toEqual({ 'DATA-A': ['cern'] });
    // Replayed: the fence holds.
    expect(await resolveInputs({ taskId })).toMatchObject({ ready: true, files: 450, added: 0 });
  });

  it('answers not ready for an open dataset without a whole job, with the poll period', async () => {
    const taskId = await submitTask(h, spec({ dataset: await dataset('open', 1, false), untilClosed: true }));
    expect(await resolveInputs({ taskId })).toMatchObject({
      ready: false,
      files: 1,
      closed: false,
      untilClosed: true,
      waitSec: h.deps.settings.inputPollSec ?? 60,
    });
    expect((await h.deps.tasks.getHead(taskId))?.jobCount).toBe(0);
  });

  it('fails with a FatalError when the closed dataset has no files, and rejects bad input by name', async () => {
    const taskId = await submitTask(h, spec({ dataset: await dataset('empty', 0) }));
    await expect(resolveInputs({ taskId })).rejects.toMatchObject({
      name: 'FatalError',
      message: `dataset ${SCOPE}:empty is closed and has no files`,
    });
    await expect(resolveInputs({ taskId: 'nope' })).rejects.toMatchObject({ name: 'ValidationError' });
  });
});
