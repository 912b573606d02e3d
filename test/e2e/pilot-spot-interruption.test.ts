/**
 * A pilot on a Spot instance, on the local stack: `gluon-pilot run --cloud ec2` against a test IMDS
 * (IMDSv2, token enforced). It registers its instance (GET /pilots shows it); a Spot interruption
 * notice 30 s ahead makes it evict its job before the notice's time, the job is queued again without
 * spending an attempt and finished by another pilot; an event-service consumer hands back its
 * unstarted ranges, which another pilot processes, none lost.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RangeView } from '#core/api/event-ranges.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, tempStateDir, waitFor } from '#test/support/e2e.ts';
import { startTestImds, type TestImds } from '../integration/pilot/test-imds.ts';

const REPO = resolve(import.meta.dirname, '../..');
const FIXTURES = fileURLToPath(new URL('../fixtures/event-service/', import.meta.url));

let stack: LocalStack;
let api: Api;
const children: ChildProcess[] = [];
const imdsServers: TestImds[] = [];

beforeAll(async () => {
  // No pilots of the stack's own: this test starts its pilots itself.
  stack = await startTestStack('spot', {
    pilots: 0,
    inMemory: true,
    leaseSec: 6,
    heartbeatSec: 1,
    reapEverySec: 1,
    rangeLeaseSec: 5,
  });
  api = new Api(stack.apiUrl, stack.userToken);
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const imds of imdsServers.splice(0)) await imds.close();
});

afterAll(async () => {
  await stack?.stop();
});

interface PilotProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; at: number }>;
  output(): string;
}

/** A pilot of the local site, as a process (`gluon-pilot run`). */
function startPilot(args: string[]): PilotProcess {
  const child = spawn(process.execPath, ['pilot/main.ts', 'run', ...args], {
    cwd: REPO,
    env: {
      ...stack.env,
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      GLUON_PILOT_TOKEN: stack.pilotToken,
      GLUON_SITE: 'local',
      GLUON_IDLE_EXIT_SEC: '60',
      GLUON_POLL_WAIT_SEC: '2',
      GLUON_MAX_LOAD_PER_CORE: '1000',
      GLUON_MIN_FREE_DISK_MB: '0',
      GLUON_MIN_FREE_DISK_RUNNING_MB: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolveExit) =>
    child.once('exit', (code) => resolveExit({ code, at: Date.now() })),
  );
  return { child, exited, output: () => output };
}

async function spotPilot(instanceId: string): Promise<{ pilot: PilotProcess; imds: TestImds }> {
  const imds = await startTestImds({ instanceId, instanceType: 'm5.large', lifeCycle: 'spot' });
  imdsServers.push(imds);
  const pilot = startPilot(['--cloud', 'ec2', '--imds-endpoint', imds.url, '--imds-poll-sec', '1']);
  return { pilot, imds };
}

/** A notice `aheadMs` from now, in IMDS's whole seconds. */
function noticeIn(aheadMs: number): number {
  return Math.floor((Date.now() + aheadMs) / 1000) * 1000;
}

async function exitWithin(
  pilot: PilotProcess,
  timeoutMs: number,
): Promise<{ code: number | null; at: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the pilot did not exit:\n${pilot.output()}`)), timeoutMs);
  });
  try {
    return await Promise.race([pilot.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a Spot interruption notice during a job', () => {
  it('evicts the job before the notice’s time; it runs again elsewhere without spending an attempt', async () => {
    const { pilot: spot, imds } = await spotPilot('i-0e2e0spot0000001');
    // The first attempt leaves a flag and runs long; the next one finds it and ends at once.
    const flag = join(tempStateDir('spot-flag'), 'started');
    const taskId = await api.submit(
      shellTask('spot-job', `if [ -e ${flag} ]; then echo again; else touch ${flag}; sleep 300; fi`, {
        resources: { cores: 1, memoryMB: 256, walltimeSec: 900, diskMB: 100 },
      }),
    );
    const running = await waitFor(
      async () => (await api.jobs(taskId)).find((j) => j.state === 'running' && existsSync(flag)),
      { timeoutMs: 60_000, what: 'the job running on the Spot pilot' },
    );
    const view = (await api.pilots()).find((p) => p.pilotId === running.pilotId);
    expect(view?.cloud).toEqual({
      provider: 'ec2',
      instanceId: 'i-0e2e0spot0000001',
      instanceType: 'm5.large',
      market: 'spot',
      availabilityZone: 'us-east-1a',
      pilotsOnInstance: 1,
    });

    const noticeAt = noticeIn(30_000);
    imds.interrupt(new Date(noticeAt));
    const exit = await exitWithin(spot, 45_000);
    expect(exit.code, spot.output()).toBe(0);
    expect(exit.at).toBeLessThan(noticeAt);

    const evicted = await waitFor(
      async () => {
        const job = (await api.jobsWithAttempts(taskId))[0];
        return job?.attempts?.[0]?.pilotErrorCode !== undefined ? job : undefined;
      },
      { what: 'the evicted attempt in the books' },
    );
    expect(evicted.attempts?.[0]).toMatchObject({ attempt: 1, pilotErrorCode: PILOT_ERROR_CODES.EVICTED });
    expect(evicted.attempts?.[0]?.errorMessage).toContain('Spot interruption notice (terminate at');
    expect(Date.parse(evicted.attempts?.[0]?.endedAt ?? '')).toBeLessThan(noticeAt);

    const other = startPilot([]);
    const task = await api.finalTask(taskId, 90_000);
    expect(task.state).toBe('done');
    const [job] = await api.jobsWithAttempts(taskId);
    expect(job).toMatchObject({ state: 'finished', attempt: 2, systemRetries: 1 });
    expect(job?.pilotId).not.toBe(running.pilotId);
    other.child.kill('SIGTERM');
    await exitWithin(other, 40_000);
  });
});

describe('a Spot interruption notice during an event-service consumer', () => {
  it('hands back the unstarted ranges; another pilot processes them, none lost', async () => {
    const { pilot: spot, imds } = await spotPilot('i-0e2e0spot0000002');
    const doneLog = join(tempStateDir('spot-es'), 'done.log');
    writeFileSync(doneLog, '');
    const taskId = await api.submit({
      name: 'spot-es',
      payload: {
        command: 'node',
        args: [join(FIXTURES, 'payload.mjs'), 'out.json'],
        env: { ES_SLEEP_MS: '200', ES_DONE_LOG: doneLog },
      },
      events: 2000,
      eventService: {
        rangeSize: 20,
        consumers: 1,
        mode: 'stream',
        rangesPerMessage: 5,
        merge: { command: 'node', args: [join(FIXTURES, 'merge.mjs'), 'out.json', '${inputFiles}'] },
      },
      outputs: ['out.json'],
      resources: { cores: 1, memoryMB: 256, walltimeSec: 600, diskMB: 100 },
      maxAttempts: 3,
    });
    await waitFor(async () => ((await api.task(taskId)).ranges?.finished ?? 0) >= 10 || undefined, {
      timeoutMs: 90_000,
      what: 'ten ranges finished on the Spot pilot',
    });
    const noticeAt = noticeIn(30_000);
    imds.interrupt(new Date(noticeAt));
    const exit = await exitWithin(spot, 45_000);
    expect(exit.code, spot.output()).toBe(0);
    expect(exit.at).toBeLessThan(noticeAt);
    const finishedOnSpot = (await api.task(taskId)).ranges?.finished ?? 0;
    expect(finishedOnSpot).toBeLessThan(100);
    // Its consumer handed back what it held and had not started (and the API queued the job again).
    expect(spot.output()).toMatch(/"message":"consumer ended".*"pilotErrorCode":1302.*"handedBack":[1-9]/);

    const other = startPilot([]);
    const task = await api.finalTask(taskId, 120_000);
    expect(task.state).toBe('done');
    expect(task.ranges).toMatchObject({ total: 100, finished: 100, fatal: 0 });
    const all: RangeView[] = await api.client.all('listRanges', {
      params: { taskId },
      query: { limit: 1000 },
    });
    expect(new Set(all.filter((r) => r.state === 'finished').map((r) => r.rangeIndex)).size).toBe(100);
    // Ranges were run by two payload processes: the Spot pilot's, then the other pilot's.
    const done = readFileSync(doneLog, 'utf8').trim().split('\n');
    expect(new Set(done.map((line) => line.split(' ')[0])).size).toBe(100);
    expect(new Set(done.map((line) => line.split(' ')[1])).size).toBeGreaterThanOrEqual(2);
    // The consumer's attempt ended without spending one of the task's attempts.
    const consumers = await api.jobsWithAttempts(taskId);
    const evicted = consumers.flatMap((j) => j.attempts ?? []).find((a) => a.pilotId !== undefined);
    expect(evicted?.pilotErrorCode).toBe(PILOT_ERROR_CODES.EVICTED);
    other.child.kill('SIGTERM');
    await exitWithin(other, 40_000);
  });
});
