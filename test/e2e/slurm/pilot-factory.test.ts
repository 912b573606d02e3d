/**
 * The pilot factory filling a real Slurm cluster: the single-executable gluon-pilot runs as the
 * factory (`gluon-pilot factory --batch slurm`) against a local stack whose own pilot factory is
 * off (pilots: 0); Slurm runs the same executable as the pilots.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobView, type PilotView, SCOPES } from '#core/api/index.ts';
import type { LocalStack } from '#local/stack.ts';
import { buildPilot } from '#pilot/build/build-pilot.ts';
import { parseSqueueOutput } from '#pilot/factory/slurm-plugin.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';
import { type Slurm, startSlurm } from '#test/support/slurm.ts';

const SITE = 'local';
const JOB_NAME = `gluon-pilot-${SITE}`;
const MAX_PENDING = 2;
const MAX_PILOTS = 3;

let slurm: Slurm | undefined;
let stack: LocalStack | undefined;
let api: Api;
let binary: string;
let factory: ChildProcess | undefined;
let factoryExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
const factoryLog: string[] = [];
/** squeue samples taken while the factory runs: [pending, pending + running]. */
const samples: Array<[number, number]> = [];
let sampling = true;
let sampler: Promise<void> = Promise.resolve();

function cluster(): Slurm {
  if (slurm === undefined) throw new Error('Slurm did not start');
  return slurm;
}

async function ourBatchJobs() {
  return parseSqueueOutput(
    await cluster().run('squeue', ['--noheader', '--array', `--name=${JOB_NAME}`, '--format=%i|%T']),
  );
}

async function pilots(): Promise<PilotView[]> {
  return api.pilots();
}

beforeAll(async () => {
  const [built, startedSlurm, startedStack] = await Promise.allSettled([
    buildPilot(),
    startSlurm(),
    startTestStack('slurm', {
      pilots: 0,
      inMemory: true,
      leaseSec: 6,
      heartbeatSec: 1,
      reapEverySec: 1,
    }),
  ]);
  if (startedSlurm.status === 'fulfilled') slurm = startedSlurm.value;
  if (startedStack.status === 'fulfilled') stack = startedStack.value;
  for (const outcome of [built, startedSlurm, startedStack])
    if (outcome.status === 'rejected') throw outcome.reason;
  if (built.status !== 'fulfilled' || stack === undefined) throw new Error('unreachable');
  binary = built.value.path;
  api = new Api(stack.apiUrl, stack.userToken);

  // `pilots: 0` keeps the stack's own factory off, but also makes the site's maxPilots 0: an
  // operator gives the site room for Slurm pilots, and a slot Slurm can fit several times here.
  const admin = new Api(stack.apiUrl, await stack.mintToken({ sub: 'e2e-operator', scopes: [SCOPES.admin] }));
  const put = await admin.request('PUT', `/sites/${SITE}`, {
    kind: 'hpc',
    status: 'online',
    slot: { cores: 1, memoryMB: 1000, walltimeSec: 600, diskMB: 1000 },
    maxPilots: MAX_PILOTS,
  });
  expect(put.status).toBe(200);

  const logDir = mkdtempSync(join(tmpdir(), 'gluon-e2e-slurm-logs-'));
  const aws = Object.fromEntries(Object.entries(stack.env).filter(([k]) => k.startsWith('AWS_')));
  factory = spawn(
    binary,
    [
      'factory',
      '--api-url',
      stack.apiUrl,
      '--site',
      SITE,
      '--interval-sec',
      '1',
      '--max-pending',
      String(MAX_PENDING),
      '--log-dir',
      logDir,
      '--pilot-env',
      'AWS_*,GLUON_IDLE_EXIT_SEC,GLUON_POLL_WAIT_SEC,GLUON_KILL_GRACE_SEC',
    ],
    {
      cwd: logDir,
      // A clean environment: what the factory needs, nothing of the test process.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        ...cluster().env,
        ...aws,
        GLUON_PILOT_TOKEN: stack.pilotToken,
        GLUON_IDLE_EXIT_SEC: '20',
        GLUON_POLL_WAIT_SEC: '1',
        GLUON_KILL_GRACE_SEC: '2',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  factoryExit = new Promise((resolve) => factory?.once('exit', (code, signal) => resolve({ code, signal })));
  for (const stream of [factory.stdout, factory.stderr]) {
    if (stream !== null) createInterface({ input: stream }).on('line', (line) => factoryLog.push(line));
  }
  sampler = (async () => {
    while (sampling) {
      try {
        const jobs = await ourBatchJobs();
        const pending = jobs.filter((j) => j.state === 'pending').length;
        samples.push([pending, pending + jobs.filter((j) => j.state === 'running').length]);
      } catch {
        // the cluster is stopping
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
}, 900_000);

afterAll(async () => {
  sampling = false;
  await sampler;
  if (factory !== undefined && factory.exitCode === null && factory.signalCode === null) {
    factory.kill('SIGKILL');
    await factoryExit;
  }
  await slurm?.stop();
  await stack?.stop();
}, 120_000);

describe('gluon-pilot factory with Slurm', () => {
  it('submits pilots that register with their batch ids and run a task to done', async () => {
    const taskId = await api.submit(shellTask('slurm-six', 'sleep 2; echo ok', { events: 6 }));
    const inSlurm = await waitFor(
      async () => {
        const jobs = await ourBatchJobs();
        return jobs.length > 0 ? jobs : undefined;
      },
      { timeoutMs: 60_000, what: 'pilots in squeue' },
    );
    expect(inSlurm.every((j) => /^\d+$/.test(j.id))).toBe(true);

    const registered = await waitFor(
      async () => {
        const list = (await pilots()).filter((p) => p.batchId !== undefined);
        return list.length > 0 ? list : undefined;
      },
      { timeoutMs: 60_000, what: 'a pilot registered with a batch id' },
    );
    const pilot = registered[0] as PilotView;
    // The pilot is the single executable, started by Slurm under its own job id.
    expect(readlinkSync(`/proc/${pilot.pid}/exe`)).toBe(binary);
    const script = await cluster().run('scontrol', ['write', 'batch_script', pilot.batchId as string, '-']);
    expect(script).toContain(
      `exec ${binary} run --api-url ${stack?.apiUrl} --site ${SITE} --batch-id "$SLURM_JOB_ID"`,
    );
    expect(script).not.toContain(stack?.pilotToken as string);

    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    expect(task.counts.finished).toBe(6);
    const jobs = await api.jobs(taskId);
    const byPilot = new Map((await pilots()).map((p) => [p.pilotId, p]));
    for (const job of jobs) {
      const ranOn = byPilot.get(job.pilotId ?? '');
      expect(ranOn?.batchId).toMatch(/^\d+$/);
    }
  });

  /** Submits a task, cancels the pilot of one of its running jobs with `scancel ARGS <batchId>`, waits for the end. */
  async function cancelPilotMidJob(
    name: string,
    scancelArgs: string[],
  ): Promise<{ victimPilotId: string; job: JobView }> {
    const taskId = await api.submit(shellTask(name, 'sleep 6; echo ok', { events: 3 }));
    const victim = await waitFor(
      async () => (await api.jobs(taskId)).find((j) => j.state === 'running' && j.pilotId !== undefined),
      { timeoutMs: 120_000, what: 'a running job' },
    );
    const victimPilot = (await pilots()).find((p) => p.pilotId === victim.pilotId);
    expect(victimPilot?.batchId).toMatch(/^\d+$/);
    await cluster().run('scancel', [...scancelArgs, victimPilot?.batchId as string]);

    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    const job = await api.job(taskId, victim.jobIndex);
    expect(job.state).toBe('finished');
    const attempts = job.attempts ?? [];
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts[0]?.pilotId).toBe(victim.pilotId);
    const last = attempts.at(-1);
    expect(last?.state).toBe('finished');
    expect(last?.pilotId).not.toBe(victim.pilotId);
    return { victimPilotId: victim.pilotId as string, job };
  }

  it('has the job of a pilot SIGTERMed by Slurm (scancel --batch --signal=TERM) evicted and finished by another pilot', async () => {
    // Only the batch step's shell (the pilot, exec'd by the script) gets SIGTERM, as on preemption.
    const { job } = await cancelPilotMidJob('slurm-sigterm', ['--batch', '--signal=TERM']);
    expect(job.attempts?.[0]).toMatchObject({ attempt: 1, state: 'evicted' });
  });

  it('retries elsewhere the job of a pilot cancelled with scancel, and the task completes', async () => {
    // A plain scancel signals every process of the job at once: the pilot and its payload.
    const { job } = await cancelPilotMidJob('slurm-scancel', []);
    // The payload may die of Slurm's SIGTERM before the pilot sees its own: the pilot waits for
    // its stop, so the first attempt is an eviction (or lost, if the pilot died first), never a failure.
    expect(['evicted', 'lost']).toContain(job.attempts?.[0]?.state);
  });

  it('never had more than --max-pending pilots pending, nor more than maxPilots in Slurm', () => {
    expect(samples.length).toBeGreaterThan(20);
    expect(Math.max(...samples.map(([pending]) => pending))).toBeLessThanOrEqual(MAX_PENDING);
    expect(Math.max(...samples.map(([, total]) => total))).toBeLessThanOrEqual(MAX_PILOTS);
    expect(samples.some(([, total]) => total > 0)).toBe(true);
  });

  it('logged its submissions, and exits with 0 on SIGTERM', async () => {
    const submissions = factoryLog
      .map((line) => JSON.parse(line) as { message: string; batchIds?: string[] })
      .filter((r) => r.message === 'factory cycle' && (r.batchIds?.length ?? 0) > 0);
    expect(submissions.length).toBeGreaterThan(0);
    factory?.kill('SIGTERM');
    const exit = await factoryExit;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(factoryLog.some((line) => line.includes('"pilot factory stopped"'))).toBe(true);
  });
});
