import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { releaseWaitIfReady } from '#core/tasks/release-wait.ts';
import { inMemoryDeps, settleJobChanges } from '#test/support/in-memory-ports.ts';
import { addPilot, addSite, claimed, complete, generationSpec, report, runningTask } from '../scenario.ts';

const AT = '2026-01-01T00:10:00.000Z';

/** A task of two jobs: job 0 running, job 1 queued; its workflow waits with token wait-1. */
async function setup() {
  const deps = inMemoryDeps();
  await addSite(deps);
  const taskId = await runningTask(deps, generationSpec(2));
  const pilotId = await addPilot(deps);
  const job0 = { taskId, jobIndex: 0, attempt: 1 };
  await claimed(deps, pilotId, job0);
  await settleJobChanges(deps);
  await deps.tasks.storeWaitToken(taskId, 'wait-1');
  return { deps, taskId, pilotId, job0 };
}

describe('releaseWaitIfReady', () => {
  it('releases nothing while jobs are left', async () => {
    const { deps, taskId } = await setup();
    expect(await releaseWaitIfReady(deps, taskId)).toBe(false);
    expect(deps.workflow.releases).toEqual([]);
  });

  it('releases the wait to finalize when every job is final', async () => {
    const { deps, taskId, pilotId, job0 } = await setup();
    await complete(deps, pilotId, report(job0));
    const job1 = { taskId, jobIndex: 1, attempt: 1 };
    await claimed(deps, pilotId, job1);
    await complete(deps, pilotId, report(job1));
    // The counts follow the change feed: until it is consumed, jobs are left.
    expect(await releaseWaitIfReady(deps, taskId)).toBe(false);
    await settleJobChanges(deps);
    deps.workflow.releases.length = 0;
    expect(await releaseWaitIfReady(deps, taskId)).toBe(true);
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: false } }]);
  });

  it('releases the wait to sweep a cancelled task with a running job, until it is swept', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.requestCancel(taskId, AT);
    expect(await releaseWaitIfReady(deps, taskId)).toBe(true);
    expect(deps.workflow.releases).toEqual([{ token: 'wait-1', output: { taskId, sweep: true } }]);
    await deps.tasks.markCancelSwept(taskId, AT);
    await deps.tasks.storeWaitToken(taskId, 'wait-2');
    expect(await releaseWaitIfReady(deps, taskId)).toBe(false);
  });

  it('releases a swept cancelled task to finalize once its last running job ended', async () => {
    const { deps, taskId, pilotId, job0 } = await setup();
    await deps.tasks.requestCancel(taskId, AT);
    await deps.tasks.markCancelSwept(taskId, AT);
    await deps.tasks.storeWaitToken(taskId, 'wait-2');
    await complete(deps, pilotId, report(job0, PILOT_ERROR_CODES.CANCELLED));
    await settleJobChanges(deps);
    expect(deps.workflow.releases).toEqual([{ token: 'wait-2', output: { taskId, sweep: false } }]);
  });

  it('releases nothing without a wait token, for a final task, or for an unknown task', async () => {
    const deps = inMemoryDeps();
    await addSite(deps);
    const taskId = await runningTask(deps, generationSpec(1));
    await deps.tasks.requestCancel(taskId, AT);
    expect(await releaseWaitIfReady(deps, taskId)).toBe(false);
    await deps.tasks.storeWaitToken(taskId, 'wait-1');
    await deps.tasks.transition(taskId, 'cancel', { at: AT });
    expect(await releaseWaitIfReady(deps, taskId)).toBe(false);
    expect(await releaseWaitIfReady(deps, 't-999999')).toBe(false);
    expect(deps.workflow.releases).toEqual([]);
  });

  it('releases a token again when asked again (a used token is ignored by the engine)', async () => {
    const { deps, taskId } = await setup();
    await deps.tasks.requestCancel(taskId, AT);
    await releaseWaitIfReady(deps, taskId);
    await releaseWaitIfReady(deps, taskId);
    expect(deps.workflow.releases.map((r) => r.token)).toEqual(['wait-1', 'wait-1']);
  });
});
