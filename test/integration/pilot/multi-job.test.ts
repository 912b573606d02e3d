/**
 * Resource classes at the pilot: it polls the site queues of the classes it can run, largest first,
 * and runs several jobs at once while their cores and memory fit what it offers. A job too big for
 * what is free now is left in its queue without a claim, and taken once a job ends.
 */

import { writeFile } from 'node:fs/promises';
import { CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { jobMessage } from '#core/jobs/job-message.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { EXIT_CODES } from '#pilot/exit-codes.ts';
import { newTaskId, SITE, usePilotHarness, waitFor } from './pilot-harness.ts';

const h = usePilotHarness();

/** A job whose payload waits for a file to appear (so the test decides when it ends). */
function gatedJob(taskId: string, jobIndex: number, gate: string, resources = { cores: 1, memoryMB: 1000 }) {
  return h.makeJob(taskId, jobIndex, {
    payload: {
      command: 'sh',
      args: ['-c', `while [ ! -e ${gate} ]; do sleep 0.05; done`],
      env: { TEST_MARKER: h.marker },
      sandbox: [],
    },
    resources: { ...resources, walltimeSec: 60, diskMB: 100 },
    outputs: [],
  });
}

/** Puts the job in the fake API and its message, with its needs, in `queueUrl`. */
async function queueIn(queueUrl: string, job: ReturnType<typeof gatedJob>): Promise<void> {
  h.api.jobs.set(`${job.taskId}.${job.jobIndex}`, job);
  const body = jobMessage(job, SITE, Date.now(), job.resources);
  await h.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
}

/** A fresh queue (the site's multi-core queue, in registration's answer when a test says so). */
async function newQueue(): Promise<string> {
  const out = await h.sqs.send(new CreateQueueCommand({ QueueName: `${SITE}-mc-${newTaskId()}` }));
  return out.QueueUrl as string;
}

/** Registration names a multi-core queue first, then the site's single-core one. */
async function withMcoreQueue(): Promise<string> {
  const mcoreQueue = await newQueue();
  h.api.registration.queues = [
    { resourceClass: 'mcore', queueUrl: mcoreQueue },
    { resourceClass: 'score', queueUrl: h.queueUrl },
  ];
  return mcoreQueue;
}

function claimed(): string[] {
  return h.api.bodies('claimJob').map((c) => `${c.taskId}.${c.jobIndex}`);
}

describe('Pilot: several jobs at once', () => {
  it('runs two single-core jobs at once on two cores, its lease holding both, and reports each', async () => {
    const taskId = newTaskId();
    const gate = `${h.workDir}/gate-${taskId}`;
    await queueIn(h.queueUrl, gatedJob(taskId, 0, gate));
    await queueIn(h.queueUrl, gatedJob(taskId, 1, gate));
    const p = h.runPilot({ cores: 2, memoryMB: 4000, jobsAtOnce: 2, maxJobs: 2 });

    await waitFor('both jobs claimed', () => claimed().length === 2);
    const [first, second] = h.api.bodies('claimJob');
    // The second claim says the first is held, and offers what the first leaves free.
    expect(second?.holds).toEqual([{ taskId, jobIndex: first?.jobIndex, attempt: 1 }]);
    expect(second?.resources).toMatchObject({ cores: 1, memoryMB: 3000 });
    const lease = await waitFor('the lease holding both', async () => {
      const l = await h.lease();
      return l?.jobs.length === 2 ? l : undefined;
    });
    expect(lease.state).toBe('busy');
    expect(h.api.bodies('completeJob')).toEqual([]);

    await writeFile(gate, '');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('max-jobs');
    const reports = h.api.reports().filter((r) => r.taskId === taskId);
    expect(reports.map((r) => r.jobIndex).sort()).toEqual([0, 1]);
    expect(reports.every((r) => r.pilotErrorCode === PILOT_ERROR_CODES.OK)).toBe(true);
    expect((await h.lease())?.jobs).toEqual([]);
  });

  it('runs one job at a time with --jobs-at-once 1, whatever its cores', async () => {
    const taskId = newTaskId();
    const gate = `${h.workDir}/gate-${taskId}`;
    await queueIn(h.queueUrl, gatedJob(taskId, 0, gate));
    await queueIn(h.queueUrl, gatedJob(taskId, 1, gate));
    const p = h.runPilot({ cores: 2, memoryMB: 4000, jobsAtOnce: 1, maxJobs: 2 });
    await waitFor('one job claimed', () => claimed().length === 1);
    await waitFor('its payload running', async () => (await h.lease())?.state === 'busy');
    expect(claimed()).toHaveLength(1);
    await writeFile(gate, '');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(claimed()).toHaveLength(2);
    // One at a time: each claim held nothing else.
    expect(h.api.bodies('claimJob').every((c) => c.holds.length === 0)).toBe(true);
  });

  it('leaves a job bigger than what is free now without claiming it, and takes it once the running job ended', async () => {
    const mcoreQueue = await withMcoreQueue();
    const small = newTaskId();
    const big = newTaskId();
    const gate = `${h.workDir}/gate-${small}`;
    await queueIn(h.queueUrl, gatedJob(small, 0, gate));
    const p = h.runPilot({ cores: 4, memoryMB: 4000, jobsAtOnce: 4, maxJobs: 2, idleExitSec: 60 });
    await waitFor('the single-core job claimed', () => claimed().includes(`${small}.0`));

    // Needs all four cores, one is taken: the pilot still polls its multi-core queue (three cores
    // free) and sees the job, but does not claim it.
    await queueIn(mcoreQueue, gatedJob(big, 0, `${h.workDir}/gate-${big}`, { cores: 4, memoryMB: 4000 }));
    await waitFor('the pilot to look at it', () => p.log().includes('job too big for what is free now'));
    expect(claimed()).not.toContain(`${big}.0`);

    await writeFile(gate, '');
    await writeFile(`${h.workDir}/gate-${big}`, '');
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(claimed()).toEqual([`${small}.0`, `${big}.0`]);
    expect(h.api.bodies('claimJob')[1]?.holds).toEqual([]);
    const bigClaim = h.api.bodies('claimJob')[1];
    expect(bigClaim?.resources).toMatchObject({ cores: 4, memoryMB: 4000 });
  });

  it('polls its larger class first: a multi-core job waiting is taken before single-core ones', async () => {
    const mcoreQueue = await withMcoreQueue();
    const small = newTaskId();
    const big = newTaskId();
    const gate = `${h.workDir}/gate-${big}`;
    await queueIn(h.queueUrl, gatedJob(small, 0, gate));
    await queueIn(mcoreQueue, gatedJob(big, 0, gate, { cores: 2, memoryMB: 4000 }));
    await writeFile(gate, '');
    const p = h.runPilot({ cores: 2, memoryMB: 4000, jobsAtOnce: 2, maxJobs: 2 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(claimed()).toEqual([`${big}.0`, `${small}.0`]);
  });

  it('leaves a job bigger than the whole pilot for others, and still exits when idle', async () => {
    const taskId = newTaskId();
    await queueIn(h.queueUrl, gatedJob(taskId, 0, '/nonexistent', { cores: 1, memoryMB: 1500 }));
    const p = h.runPilot({ cores: 1, memoryMB: 1000, jobsAtOnce: 1, idleExitSec: 3 });
    expect(await h.codeOf(p, 15_000)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('idle');
    expect(claimed()).toEqual([]);
    expect(await h.messageCount(h.queueUrl)).toBe(1);
  });

  it('polls only the queues registration named: a single-core pilot never receives a multi-core message', async () => {
    const mcoreQueue = await newQueue();
    const big = newTaskId();
    await queueIn(mcoreQueue, gatedJob(big, 0, '/nonexistent', { cores: 2, memoryMB: 2000 }));
    const p = h.runPilot({ cores: 1, memoryMB: 2000, idleExitSec: 2 });
    expect(await h.codeOf(p)).toBe(EXIT_CODES.OK);
    expect(p.pilot.exitReason).toBe('idle');
    expect(claimed()).toEqual([]);
    expect(await h.messageCount(mcoreQueue)).toBe(1);
  });
});
