import { describe, expect, it } from 'vitest';
import { SCOPES } from '#core/api/common.ts';
import type { Principal } from '#core/deps.ts';
import { NotFoundError } from '#core/errors.ts';
import { DOWNLOAD_URL_TTL_SEC, getJobLog, getJobOutput, listTaskOutputs } from '#core/jobs/job-results.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { attemptLogKey, attemptPrefix } from '#core/storage/object-keys.ts';
import { settleJobChanges } from '#test/support/in-memory-ports.ts';
import { alice, bob, claimed, complete, jobRef, report, taskWithPilot } from '../scenario.ts';

const admin: Principal = { sub: 'operator', scopes: [SCOPES.admin] };

function outputOf(taskId: string, jobIndex: number, attempt: number, name: string, bytes: number) {
  return { name, key: `${attemptPrefix(taskId, jobIndex, attempt)}${name}`, bytes, adler32: '0a1b2c3d' };
}

function logOf(taskId: string, jobIndex: number, attempt: number) {
  return { name: 'attempt.log', key: attemptLogKey(taskId, jobIndex, attempt), bytes: 42 };
}

/**
 * Job 0 failed at attempt 1 (with a log), finished at attempt 2 (log and two outputs); job 1 is
 * running its first attempt.
 */
async function setup() {
  const { deps, taskId, pilotId } = await taskWithPilot();
  await claimed(deps, pilotId, jobRef(taskId, 0));
  await complete(
    deps,
    pilotId,
    report(jobRef(taskId, 0), PILOT_ERROR_CODES.PAYLOAD_FAILED, { log: logOf(taskId, 0, 1) }),
  );
  await settleJobChanges(deps);
  await claimed(deps, pilotId, jobRef(taskId, 0, 2));
  await complete(
    deps,
    pilotId,
    report(jobRef(taskId, 0, 2), PILOT_ERROR_CODES.OK, {
      log: logOf(taskId, 0, 2),
      outputs: [outputOf(taskId, 0, 2, 'events.root', 1234), outputOf(taskId, 0, 2, 'hist.json', 56)],
    }),
  );
  await claimed(deps, pilotId, jobRef(taskId, 1));
  await settleJobChanges(deps);
  return { deps, taskId };
}

describe('getJobLog', () => {
  it.each([
    { what: 'the last ended attempt by default', attempt: undefined, expected: 2 },
    { what: 'an earlier attempt when asked', attempt: 1, expected: 1 },
    { what: 'the last attempt when asked by number', attempt: 2, expected: 2 },
  ])('signs $what', async ({ attempt, expected }) => {
    const { deps, taskId } = await setup();
    expect(await getJobLog(deps, alice, taskId, 0, attempt)).toEqual({
      taskId,
      index: 0,
      attempt: expected,
      url: `memory://gluon-test/${attemptLogKey(taskId, 0, expected)}?get&expiresIn=${DOWNLOAD_URL_TTL_SEC}`,
      expiresInSec: DOWNLOAD_URL_TTL_SEC,
    });
  });

  it.each([
    { what: 'a job whose only attempt still runs', index: 1, attempt: undefined, message: 'has no log yet' },
    { what: 'an attempt the job never had', index: 0, attempt: 3, message: 'attempt 3 of job' },
    { what: 'a job index past the task', index: 2, attempt: undefined, message: '.2 not found' },
  ])('answers not found, naming what is missing, for $what', async ({ index, attempt, message }) => {
    const { deps, taskId } = await setup();
    const answer = getJobLog(deps, alice, taskId, index, attempt);
    await expect(answer).rejects.toBeInstanceOf(NotFoundError);
    await expect(answer).rejects.toThrow(message);
  });

  it("hides another user's task, and shows it to an operator", async () => {
    const { deps, taskId } = await setup();
    await expect(getJobLog(deps, bob, taskId, 0)).rejects.toThrow(`task ${taskId} not found`);
    expect((await getJobLog(deps, admin, taskId, 0)).attempt).toBe(2);
  });
});

describe('getJobOutput', () => {
  it('signs an output of a job with the size and adler32 its pilot recorded', async () => {
    const { deps, taskId } = await setup();
    const key = `${attemptPrefix(taskId, 0, 2)}hist.json`;
    expect(await getJobOutput(deps, alice, taskId, 0, 'hist.json')).toEqual({
      taskId,
      index: 0,
      name: 'hist.json',
      url: `memory://gluon-test/${key}?get&expiresIn=${DOWNLOAD_URL_TTL_SEC}`,
      sizeBytes: 56,
      adler32: '0a1b2c3d',
      expiresInSec: DOWNLOAD_URL_TTL_SEC,
    });
  });

  it.each([
    {
      what: 'a name the job did not write',
      index: 0,
      name: 'other.root',
      message: 'output other.root of job',
    },
    { what: 'a job with no output yet', index: 1, name: 'events.root', message: 'output events.root of job' },
    { what: 'a job index past the task', index: 5, name: 'events.root', message: '.5 not found' },
  ])('answers not found for $what', async ({ index, name, message }) => {
    const { deps, taskId } = await setup();
    await expect(getJobOutput(deps, alice, taskId, index, name)).rejects.toThrow(message);
  });

  it("hides another user's task", async () => {
    const { deps, taskId } = await setup();
    await expect(getJobOutput(deps, bob, taskId, 0, 'events.root')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('listTaskOutputs', () => {
  it.each([
    { what: 'every job', index: undefined, names: ['events.root', 'hist.json'] },
    { what: 'one job', index: 0, names: ['events.root', 'hist.json'] },
    { what: 'a job without outputs', index: 1, names: [] },
  ])('lists the outputs of $what', async ({ index, names }) => {
    const { deps, taskId } = await setup();
    const { outputs } = await listTaskOutputs(deps, alice, taskId, index);
    expect(outputs.map((o) => o.name)).toEqual(names);
    if (names.length > 0)
      expect(outputs[0]).toEqual({ index: 0, name: 'events.root', sizeBytes: 1234, adler32: '0a1b2c3d' });
  });

  it("refuses a job index past the task and another user's task", async () => {
    const { deps, taskId } = await setup();
    await expect(listTaskOutputs(deps, alice, taskId, 2)).rejects.toThrow(`job ${taskId}.2 not found`);
    await expect(listTaskOutputs(deps, bob, taskId)).rejects.toBeInstanceOf(NotFoundError);
    expect((await listTaskOutputs(deps, admin, taskId)).outputs).toHaveLength(2);
  });
});
