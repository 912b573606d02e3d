import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#core/errors.ts';
import { claimJob } from '#core/jobs/claim-job.ts';
import { killJob } from '#core/jobs/kill-job.ts';
import { killEntry } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { settleJobChanges } from '#test/support/in-memory-ports.ts';
import {
  alice,
  bob,
  claimed,
  claimOf,
  complete,
  jobRef,
  leaseOf,
  pilotToken,
  report,
  taskOf,
  taskWithPilot,
} from '../scenario.ts';

const setup = taskWithPilot;

describe('killJob', () => {
  it('cancels a job not started at once; a claim of it then finds it cancelled', async () => {
    const { deps, taskId, pilotId } = await setup();
    expect(await killJob(deps, alice, taskId, 1)).toEqual({
      taskId,
      jobIndex: 1,
      state: 'cancelled',
      killRequested: true,
    });
    expect(await deps.jobs.get(taskId, 1)).toMatchObject({
      state: 'cancelled',
      pilotErrorCode: PILOT_ERROR_CODES.CANCELLED,
      errorMessage: 'killed by its owner',
    });
    const claim = await claimJob(deps, pilotToken('cern'), pilotId, claimOf(taskId, 1));
    expect(claim.outcome).toBe('stale');
    await settleJobChanges(deps);
    expect((await taskOf(deps, taskId)).counts).toMatchObject({ cancelled: 1, queued: 1 });
  });

  it("tells a running job's pilot to kill it; its report ends the job cancelled", async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, jobRef(taskId, 0));
    expect((await killJob(deps, alice, taskId, 0)).state).toBe('running');
    expect((await leaseOf(deps, pilotId)).kill).toContain(killEntry(`${taskId}.0.1`, 'cancelled'));
    await complete(deps, pilotId, report(jobRef(taskId, 0), PILOT_ERROR_CODES.CANCELLED));
    expect((await deps.jobs.get(taskId, 0))?.state).toBe('cancelled');
  });

  it("refuses a final job (409), a job index past the task's (404) and another user's task (404)", async () => {
    const { deps, taskId, pilotId } = await setup();
    await claimed(deps, pilotId, jobRef(taskId, 0));
    await complete(deps, pilotId, report(jobRef(taskId, 0)));
    await expect(killJob(deps, alice, taskId, 0)).rejects.toBeInstanceOf(ConflictError);
    await expect(killJob(deps, alice, taskId, 7)).rejects.toBeInstanceOf(NotFoundError);
    await expect(killJob(deps, bob, taskId, 1)).rejects.toBeInstanceOf(NotFoundError);
    expect(await deps.jobs.get(taskId, 1)).toBeUndefined();
  });
});
