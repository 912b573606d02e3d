/**
 * `npm run bench`: the figures of Gluon on this machine, printed (or `--json`), never asserted.
 *
 *   npm run bench -- [--jobs 2000] [--pilots 4] [--no-slurm] [--json]
 *   npm run bench -- --scale 1000000
 *   npm run bench -- --event-service [--events 200000] [--range-size 100] [--consumers 4] [--json]
 *   npm run bench -- --brokerage [--json]
 *   npm run bench -- --data [--files 400] [--pilots 4] [--json]
 *   npm run bench -- --cloud [--jobs 200] [--json]
 *
 * Default run, on the local stack:
 * 1. throughput: N trivial jobs through P pilots already waiting (started by the factory for a
 *    warm-up task, whose cold start is printed too); jobs/s from submission to the task's end, CPU seconds per job of the stack and of
 *    the pilots (from /proc), AWS requests, DynamoDB capacity units, Lambda invocations and their
 *    measured duration, state transitions and log bytes per job, and from them the control-plane
 *    dollars per million jobs at list prices (bench/prices.ts);
 * 2. dispatch latency with idle capacity: rounds of P jobs sent while P pilots wait; p50/p95 from
 *    a job's message being sent to its claim;
 * 3. liveness: the measured cost of a heartbeat and of a sweep per pilot, the dollars per 1,000
 *    pilot-days and the lost-pilot recovery time on AWS at the default heartbeat and three others,
 *    and a lost pilot's recovery measured here (kill -9 of a pilot holding a job);
 * 4. the peer: the same N trivial jobs through a tuned single-node Slurm
 *    (../shared/tools/slurm-peer.sh), and the ratio.
 * `--scale N`: a task of N jobs split and enqueued with no pilot, then cancelled: the time of each
 * phase, the stack's peak RSS and the workflow's history events (Step Functions allows 25,000).
 * `--event-service`: an event-service task in stream mode with a trivial payload (event-service.ts):
 * ranges/s dispatched and completed, the cost per range, the pilot's CPU per range.
 * `--brokerage`: brokerage decisions per second for 100 sites and 10,000 queued jobs, in the pure
 * core, no stack (brokerage.ts).
 * `--cloud`: a cloud ec2 site on the fake EC2, no local pilots (cloud.ts): jobs/s, time to the first
 * instance and job running, instances launched, EC2 requests per job, the control plane's dollars,
 * the attempts' compute cost beside what the instances cost from launch to terminate.
 * `--data`: the data catalog (data.ts): files registered per second and their cost, a dataset task
 * (one job per file, outputs registered) with its cost per job, a rule's transfers per second and cost.
 */
// Must be set before the functions' clients are built (at their cold start, inside startLocalStack).
process.env.GLUON_MEASURE_CAPACITY = '1';

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { localTableNames } from '#adapters/dynamodb/tables.ts';
import { GluonClient } from '#client/gluon-client.ts';
import { LOCAL_PREFIX, type LocalStack } from '#local/stack.ts';
import { setDefaultLogSink } from '#platform/logger.ts';
import { startStack, trivialTask, waitForTask, warmPilots } from './bench-stack.ts';
import { brokerageBench } from './brokerage.ts';
import { cloudBench } from './cloud.ts';
import { computeFigures, computeLine } from './compute-cost.ts';
import { closeCostWindow, costLines, money, openCostWindow } from './cost-figures.ts';
import { dataBench } from './data.ts';
import { eventServiceBench } from './event-service.ts';
import {
  credentialDollarsPer1000PilotDays,
  type LivenessFigures,
  livenessFigures,
  measureLivenessUnits,
} from './liveness.ts';
import { percentile, processRssMB, round, until } from './measure.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SLURM_PEER = resolve(REPO, '..', 'shared', 'tools', 'slurm-peer.sh');

/** Jobs of the default run, and of --cloud (each of its jobs waits for instances to boot). */
const DEFAULT_JOBS = 2000;
const DEFAULT_CLOUD_JOBS = 200;

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive whole number');
  return n;
}

const options = new Command()
  .name('npm run bench --')
  .description('Throughput, latency, cost and liveness figures of Gluon on the local stack, beside Slurm.')
  .option(
    '--jobs <n>',
    `trivial jobs to push through (default ${DEFAULT_JOBS}; with --cloud ${DEFAULT_CLOUD_JOBS})`,
    positive,
  )
  .option('--pilots <n>', 'pilot processes at once', positive, 4)
  .option('--no-slurm', 'do not run the Slurm peer')
  .option(
    '--scale <n>',
    'instead: split and enqueue a task of n jobs with no pilot, then cancel it',
    positive,
  )
  .option(
    '--event-service',
    'instead: an event-service task (stream mode, trivial payload) through consumers already waiting',
  )
  .option('--events <n>', 'with --event-service: events of the task', positive, 200_000)
  .option('--range-size <n>', 'with --event-service: events per range', positive, 100)
  .option('--consumers <n>', 'with --event-service: consumer jobs, and pilots', positive, 4)
  .option('--data', 'instead: the data catalog: registration, a dataset task, a rule’s transfers (data.ts)')
  .option('--files <n>', 'with --data: files registered, processed and copied', positive, 400)
  .option('--cloud', 'instead: a cloud ec2 site on the fake EC2, no local pilots (cloud.ts)')
  .option('--brokerage', 'instead: brokerage decisions per second (100 sites, 10,000 queued jobs), no stack')
  .option('--json', 'print one JSON object instead of the report')
  .addOption(new Option('--liveness-only <dispatchSec>', 'internal: the liveness phase alone').hideHelp())
  .parse()
  .opts<{
    jobs?: number;
    cloud?: boolean;
    pilots: number;
    slurm: boolean;
    scale?: number;
    eventService?: boolean;
    data?: boolean;
    files: number;
    brokerage?: boolean;
    events: number;
    rangeSize: number;
    consumers: number;
    json?: boolean;
    livenessOnly?: string;
  }>();

// Function logs are measured (CloudWatch Logs bytes), not printed.
setDefaultLogSink(() => undefined);

// ---- 1. throughput and cost --------------------------------------------------------------------

async function throughput(stack: LocalStack, api: GluonClient) {
  const coldStartSec = await warmPilots(stack, api, options.pilots);
  const window = openCostWindow(stack);
  const polls = { polls: 0 };
  const started = Date.now();
  const { taskId } = await api.call('submitTask', {
    body: trivialTask('bench', options.jobs ?? DEFAULT_JOBS),
  });
  const task = await waitForTask(api, taskId, polls);
  // The task's own end, not the poll that saw it (up to a poll interval later).
  const seconds = (Date.parse(task.endedAt ?? '') || Date.now()) / 1000 - started / 1000;
  const n = task.jobCount;
  const f = await closeCostWindow(stack, window, { units: n, taskId, polls: polls.polls });
  // Read after the window closed: the read is not the task's cost.
  const compute = await computeFigures(localTableNames(LOCAL_PREFIX).accounting, taskId, n);
  const perJob = (x: number) => round(x / n, 3);
  const figures = {
    jobs: n,
    pilots: options.pilots,
    state: task.state,
    seconds: round(seconds),
    jobsPerSecond: round(n / seconds),
    coldStartSec: round(coldStartSec, 1),
    cpuSecPerJob: {
      stack: perJob(f.cpuSec.stackProcess + f.cpuSec.dynamoDbLocal),
      stackProcess: perJob(f.cpuSec.stackProcess),
      dynamoDbLocal: perJob(f.cpuSec.dynamoDbLocal),
      pilots: perJob(f.cpuSec.pilots),
    },
    awsRequestsPerJob: f.awsRequests,
    awsRequestsPerJobByOperation: f.awsRequestsByOperation,
    /** Mean answer time of the functions' requests, by operation (the stand-ins' speed). */
    functionRequestMs: f.functionRequestMs,
    apiCallsPerJob: f.apiCalls,
    dynamoDbUnitsPerJob: f.dynamoDbUnits,
    dynamoDbUnitsPerJobByOperation: f.dynamoDbUnitsByOperation,
    lambdaPerJob: f.lambda,
    stateTransitionsPerJob: f.stateTransitions,
    historyEvents: f.historyEvents,
    logBytesPerJob: f.logBytes,
    dollarsPerMillionJobs: f.dollarsPerMillion,
    /** What the task's attempts cost at paid sites (the accounting's cost total): 0 on local sites. */
    compute,
    pilotsReported: f.pilotsReported,
  };
  return { figures, costs: f };
}

// ---- 2. dispatch latency with idle capacity ------------------------------------------------------

async function dispatchLatency(stack: LocalStack, api: GluonClient) {
  const rounds = 12;
  await warmPilots(stack, api, options.pilots);
  const latencies: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Every pilot idle and polling: the next messages find one each.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { taskId } = await api.call('submitTask', { body: trivialTask(`latency-${r}`, options.pilots) });
    await waitForTask(api, taskId);
    const jobs = await api.all('listJobs', { params: { taskId } });
    for (const job of jobs) {
      if (job.queuedAt !== undefined && job.startedAt !== undefined) {
        latencies.push(Date.parse(job.startedAt) - Date.parse(job.queuedAt));
      }
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    samples: latencies.length,
    p50Ms: percentile(latencies, 0.5),
    p95Ms: percentile(latencies, 0.95),
    maxMs: latencies.at(-1) ?? 0,
  };
}

// ---- 3. liveness -----------------------------------------------------------------------------------

async function liveness(dispatchSec: number) {
  const lease = { leaseSec: 6, heartbeatSec: 2, reapEverySec: 1 };
  const stack = await startStack({ pilots: 1, pilotIdleExitSec: 30, ...lease });
  try {
    const api = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken });
    const units = await measureLivenessUnits(localTableNames(LOCAL_PREFIX).leases);
    // A pilot vanishes (kill -9) while it holds a job: how long until the job's next attempt runs.
    const { taskId } = await api.call('submitTask', { body: trivialTask('lost-pilot', 1, 'sleep', ['120']) });
    const first = await until(
      async () => {
        const job = await api.call('getJob', { params: { taskId, jobIndex: 0 } });
        return job.state === 'running' && job.pilotId !== undefined ? job : undefined;
      },
      'the job to run',
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const pilot = stack.factory.alive()[0];
    if (pilot?.pid === undefined) throw new Error('no pilot process to kill');
    const killedAt = Date.now();
    stack.factory.kill(pilot.pid, 'SIGKILL');
    const requeued = await until(
      async () => {
        const job = await api.call('getJob', { params: { taskId, jobIndex: 0 } });
        return job.attempt > first.attempt ? Date.now() : undefined;
      },
      'the job to be queued again',
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const running = await until(
      async () => {
        const job = await api.call('getJob', { params: { taskId, jobIndex: 0 } });
        return job.attempt > first.attempt && job.state === 'running' ? Date.now() : undefined;
      },
      'the next attempt to run',
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    await api.call('cancelTask', { params: { taskId } });
    const sweepSec = 30;
    const settings: LivenessFigures[] = [
      { heartbeatSec: 30, leaseSec: 60, sweepSec },
      { heartbeatSec: 60, leaseSec: 120, sweepSec },
      { heartbeatSec: 120, leaseSec: 240, sweepSec },
      { heartbeatSec: 300, leaseSec: 600, sweepSec },
    ].map((s) => livenessFigures(units, s, dispatchSec));
    return {
      units: {
        writeUnitsPerBeat: round(units.writeUnitsPerBeat, 3),
        readUnitsPerPilotSweep: round(units.readUnitsPerPilotSweep, 4),
      },
      settings: settings.map((s) => ({
        ...s,
        dollarsPer1000PilotDays: round(s.dollarsPer1000PilotDays, 3),
        recoverySec: round(s.recoverySec, 1),
      })),
      defaultHeartbeatSec: 60,
      credentialRenewalsDollarsPer1000PilotDays: round(credentialDollarsPer1000PilotDays(), 3),
      measuredHere: {
        ...lease,
        detectedAndRequeuedSec: round((requeued - killedAt) / 1000, 1),
        runningAgainSec: round((running - killedAt) / 1000, 1),
      },
    };
  } finally {
    await stack.stop();
  }
}

// ---- 4. the Slurm peer -----------------------------------------------------------------------------

function slurmPeer(jobs: number): Promise<{ jobsPerSecond: number; line: string } | { error: string }> {
  if (!existsSync(SLURM_PEER)) return Promise.resolve({ error: `${SLURM_PEER} not found` });
  return new Promise((resolveRun) => {
    const child = spawn('bash', [SLURM_PEER, String(jobs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), 30 * 60_000);
    child.on('close', () => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('slurm:'));
      const rate = line === undefined ? undefined : /= ([0-9.]+) jobs\/s/.exec(line)?.[1];
      resolveRun(
        rate === undefined
          ? { error: out.trim().split('\n').slice(-3).join(' | ') || 'no output' }
          : { jobsPerSecond: Number(rate), line: line as string },
      );
    });
  });
}

// ---- --scale --------------------------------------------------------------------------------------

async function scale(n: number) {
  const stack = await startStack({ pilots: 0 });
  const rss = { stack: 0, dynamoDb: 0 };
  const sampler = setInterval(() => {
    rss.stack = Math.max(rss.stack, process.memoryUsage().rss / 2 ** 20);
    rss.dynamoDb = Math.max(rss.dynamoDb, processRssMB(stack.dynamodbPid ?? 0));
  }, 250);
  try {
    const api = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken, timeoutMs: 60_000 });
    const t0 = Date.now();
    const { taskId } = await api.call('submitTask', { body: trivialTask('scale', n) });
    const submitted = Date.now();
    await until(
      async () => {
        const task = await api.call('getTask', { params: { taskId } });
        return task.jobsEnqueued >= n ? task : undefined;
      },
      'the task to be enqueued',
      { intervalMs: 1000 },
    );
    const enqueued = Date.now();
    await api.call('cancelTask', { params: { taskId } });
    const cancelAnswered = Date.now();
    const cancelled = await waitForTask(api, taskId);
    const ended = Date.now();
    return {
      jobs: n,
      state: cancelled.state,
      counts: cancelled.counts,
      seconds: {
        submit: round((submitted - t0) / 1000),
        splitAndEnqueue: round((enqueued - submitted) / 1000),
        cancelAnswer: round((cancelAnswered - enqueued) / 1000, 3),
        cancelToCancelled: round((ended - cancelAnswered) / 1000),
      },
      enqueuedJobsPerSecond: round(n / ((enqueued - submitted) / 1000)),
      peakRssMB: { stackProcess: round(rss.stack), dynamoDbLocal: round(rss.dynamoDb) },
      historyEvents: stack.workflows.historyEvents(taskId),
      stateTransitions: stack.workflows.stateTransitions(taskId),
    };
  } finally {
    clearInterval(sampler);
    await stack.stop();
  }
}

// ---- report -----------------------------------------------------------------------------------------

/**
 * The liveness phase needs a stack with short leases: the functions keep the settings they were
 * loaded with (as after a cold start), so it runs in a process of its own.
 */
function livenessInChild(dispatchSec: number): Promise<Awaited<ReturnType<typeof liveness>>> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        fileURLToPath(import.meta.url),
        '--liveness-only',
        String(dispatchSec),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('close', (code) => {
      try {
        resolveRun(JSON.parse(out.trim().split('\n').at(-1) ?? ''));
      } catch {
        reject(new Error(`the liveness phase failed (exit ${code}): ${out.slice(-500)}`));
      }
    });
  });
}

async function main(): Promise<void> {
  if (options.brokerage) {
    await brokerageBench(options);
    return;
  }
  if (options.livenessOnly !== undefined) {
    console.log(JSON.stringify(await liveness(Number(options.livenessOnly))));
    return;
  }
  if (options.scale !== undefined) {
    const result = await scale(options.scale);
    if (options.json) console.log(JSON.stringify(result));
    else {
      console.log(
        [
          `Gluon scale: a task of ${result.jobs} jobs, no pilot, then cancelled (task ${result.state})`,
          `  submit answered in      ${result.seconds.submit} s`,
          `  split and enqueued in   ${result.seconds.splitAndEnqueue} s (${result.enqueuedJobsPerSecond} jobs/s)`,
          `  cancel answered in      ${result.seconds.cancelAnswer} s; cancelled ${result.seconds.cancelToCancelled} s later`,
          `  counts at the end       ${JSON.stringify(result.counts)}`,
          `  peak RSS                stack process ${result.peakRssMB.stackProcess} MB, DynamoDB Local ${result.peakRssMB.dynamoDbLocal} MB`,
          `  workflow history        ${result.historyEvents} events (Step Functions allows 25,000), ${result.stateTransitions} state transitions`,
        ].join('\n'),
      );
    }
    return;
  }
  if (options.eventService) {
    await eventServiceBench(options);
    return;
  }
  if (options.data) {
    await dataBench(options);
    return;
  }
  if (options.cloud) {
    await cloudBench({ jobs: options.jobs ?? DEFAULT_CLOUD_JOBS, ...(options.json ? { json: true } : {}) });
    return;
  }

  const stack = await startStack({ pilots: options.pilots, pilotIdleExitSec: 15 });
  let measured: Awaited<ReturnType<typeof throughput>>;
  let latency: Awaited<ReturnType<typeof dispatchLatency>>;
  try {
    const api = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken });
    measured = await throughput(stack, api);
    latency = await dispatchLatency(stack, api);
  } finally {
    await stack.stop();
  }
  const run = measured.figures;
  const live = await livenessInChild(Math.max(1, latency.p95Ms / 1000 + 1));
  const peer = options.slurm
    ? await slurmPeer(options.jobs ?? DEFAULT_JOBS)
    : { error: 'not run (--no-slurm)' };
  const ratio = 'jobsPerSecond' in peer ? round(run.jobsPerSecond / peer.jobsPerSecond) : undefined;
  const result = { ...run, dispatchLatencyIdleMs: latency, liveness: live, slurm: peer, ratioToSlurm: ratio };
  if (options.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const lines = [
    `Gluon benchmark: ${run.jobs} trivial jobs, ${run.pilots} pilots, local stack (task ${run.state})`,
    `  throughput            ${run.jobsPerSecond} jobs/s (${run.seconds} s submit → ${run.state}, ${run.pilots} pilots waiting as slurmd does)`,
    `  cold start            ${run.coldStartSec} s from a first task's submission to its first job running (pilots started by the factory)`,
    'peer' in peer || 'jobsPerSecond' in peer
      ? `  Slurm (same machine)  ${(peer as { jobsPerSecond: number }).jobsPerSecond} jobs/s → Gluon/Slurm = ${ratio}×`
      : `  Slurm (same machine)  ${(peer as { error: string }).error}`,
    `  CPU per job           stack ${run.cpuSecPerJob.stack} s (process ${run.cpuSecPerJob.stackProcess}, DynamoDB Local ${run.cpuSecPerJob.dynamoDbLocal}), pilots and payloads ${run.cpuSecPerJob.pilots} s`,
    `  dispatch, idle pilots p50 ${latency.p50Ms} ms, p95 ${latency.p95Ms} ms, max ${latency.maxMs} ms (${latency.samples} jobs: message sent → claimed)`,
    ...costLines(measured.costs, 'job'),
    computeLine(run.compute),
    "  Liveness (heartbeat = one write of the pilot's own lease, whatever it holds; reaper sweeps every 30 s):",
    `      measured: ${live.units.writeUnitsPerBeat} write units per heartbeat, ${live.units.readUnitsPerPilotSweep} read units per pilot per sweep`,
    ...live.settings.map(
      (s) =>
        `      heartbeat ${String(s.heartbeatSec).padStart(3)} s, lease ${String(s.leaseSec).padStart(3)} s: ${money(s.dollarsPer1000PilotDays)} per 1,000 pilot-days, lost-pilot recovery ≤ ${s.recoverySec} s on AWS${s.heartbeatSec === live.defaultHeartbeatSec ? '  (default)' : ''}`,
    ),
    `      plus ${money(live.credentialRenewalsDollarsPer1000PilotDays)} per 1,000 pilot-days of credential renewals where the API vends credentials`,
    `      here (lease ${live.measuredHere.leaseSec} s, heartbeat ${live.measuredHere.heartbeatSec} s, sweep ${live.measuredHere.reapEverySec} s): kill -9 of a pilot → job queued again in ${live.measuredHere.detectedAndRequeuedSec} s, running again in ${live.measuredHere.runningAgainSec} s`,
    `  (pilot figures from ${run.pilotsReported} pilot exit reports)`,
  ];
  console.log(lines.join('\n'));
}

try {
  await main();
} catch (error) {
  console.error(`benchmark failed: ${(error as Error).stack ?? (error as Error).message}`);
  process.exitCode = 1;
}
