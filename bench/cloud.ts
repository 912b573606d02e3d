/**
 * `npm run bench -- --cloud [--jobs 200] [--json]`: a cloud ec2 site on the local stack, its
 * instances the fake EC2's (local/fake-ec2: the real SDK client, the provisioner function as on
 * AWS, instances booting `gluon-pilot cloud`). No local pilots: every job runs on an instance.
 * Printed (or `--json`), never asserted:
 * - jobs/s from the submission to the task's end; the time from the submission to the first
 *   instance running and to the first job running;
 * - instances launched by type and market, CreateFleet calls, EC2 requests per job (what the fake
 *   received, from the submission until the last instance terminated);
 * - the control plane's dollars per million jobs, as the default bench computes them
 *   (cost-figures.ts), the provisioner's scheduled runs in them at the local interval;
 * - compute: the attempts' cost from the accounting (compute-cost.ts: each attempt's wall time at
 *   its pilot's hourly price, from the dated table), next to what the instances really cost: the
 *   hours the fake ran them (launch → terminate) at the same table's price. The gap is boot, idle
 *   and shutdown time.
 */

import { localTableNames } from '#adapters/dynamodb/tables.ts';
import { GluonClient } from '#client/gluon-client.ts';
import { hourlyPrice, type Market, PRICE_TABLE_DATE, PRICE_TABLE_REGION } from '#core/provisioning/prices.ts';
import type { FakeInstance } from '#local/fake-ec2/fake-ec2.ts';
import { LOCAL_PREFIX, type LocalStack } from '#local/stack.ts';
import { startStack, TRIVIAL_RESOURCES, trivialTask, waitForTask } from './bench-stack.ts';
import { type ComputeFigures, computeFigures, computeLine } from './compute-cost.ts';
import { closeCostWindow, costLines, money, openCostWindow } from './cost-figures.ts';
import { round, until } from './measure.ts';

export interface CloudBenchOptions {
  jobs: number;
  json?: boolean;
}

const SITE = 'bench-cloud';
const IDLE_EXIT_SEC = 10;
const PROVISION_EVERY_SEC = 2;
const INSTANCE_TYPES = ['m5.large', 'm5.xlarge'];
const MAX_INSTANCES = 4;
const MAX_HOURLY_USD = 5;
/** One slot: 1 core, 2000 MB (an m5.large gives 2, an m5.xlarge 4). */
const SLOT = { cores: 1, memoryMB: 2000, walltimeSec: 3600, diskMB: 10_000 };

/** What one instance ran and cost, launch → terminate, at the dated table's price of its market. */
interface InstanceRun {
  instanceId: string;
  instanceType: string;
  market: Market;
  seconds: number;
  hourlyUsd: number;
  usd: number;
}

function instanceRun(instance: FakeInstance): InstanceRun {
  const end = Date.parse(instance.terminatedAt ?? '') || Date.now();
  const seconds = (end - Date.parse(instance.launchedAt)) / 1000;
  const hourlyUsd = hourlyPrice(instance.instanceType, instance.market)?.hourlyUsd ?? 0;
  return {
    instanceId: instance.instanceId,
    instanceType: instance.instanceType,
    market: instance.market,
    seconds: round(seconds, 1),
    hourlyUsd,
    usd: (seconds / 3600) * hourlyUsd,
  };
}

async function defineSite(stack: LocalStack): Promise<void> {
  const admin = new GluonClient({
    baseUrl: stack.apiUrl,
    token: await stack.mintToken({ sub: 'bench-operator', scopes: ['gluon.admin'] }),
  });
  await admin.call('putSite', {
    params: { siteId: SITE },
    body: {
      kind: 'cloud',
      slot: SLOT,
      maxPilots: MAX_INSTANCES * 4,
      provisioning: {
        type: 'ec2',
        instanceTypes: INSTANCE_TYPES.map((type) => ({ type })),
        market: 'spot-first',
        subnets: ['subnet-0be0c400'],
        maxInstances: MAX_INSTANCES,
        maxHourlyUsd: MAX_HOURLY_USD,
        pilots: 'slot',
        idleExitSec: IDLE_EXIT_SEC,
      },
    },
  });
}

async function measure(stack: LocalStack, o: CloudBenchOptions) {
  const api = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken });
  await defineSite(stack);
  // The fake's instances have no "running since": watched here, to the sampler's 50 ms.
  let firstRunningAt: number | undefined;
  const sampler = setInterval(() => {
    if (firstRunningAt === undefined && stack.cloud.instances().some((i) => i.pid !== undefined)) {
      firstRunningAt = Date.now();
    }
  }, 50);
  try {
    const ec2Before = stack.cloud.requests.length;
    const window = openCostWindow(stack);
    const polls = { polls: 0 };
    const started = Date.now();
    const { taskId } = await api.call('submitTask', {
      body: { ...trivialTask('bench-cloud', o.jobs), resources: TRIVIAL_RESOURCES, sites: { allow: [SITE] } },
    });
    const task = await waitForTask(api, taskId, polls);
    const seconds = ((Date.parse(task.endedAt ?? '') || Date.now()) - started) / 1000;
    const n = task.jobCount;
    // The figures at the task's end; the pilots' own (requests, CPU) from their exit reports, in
    // the instances' logs, once the instances have retired: their pilots exit after IDLE_EXIT_SEC
    // idle, then the supervisor, then the instance.
    const costs = await closeCostWindow(stack, window, {
      units: n,
      taskId,
      polls: polls.polls,
      pilots: {
        exited: () =>
          until(
            async () => {
              const all = stack.cloud.instances();
              return all.length > 0 && all.every((i) => i.state === 'terminated') ? true : undefined;
            },
            'the instances to terminate',
            { timeoutMs: 300_000, intervalMs: 250 },
          ),
        logsDir: stack.cloud.logDir,
        logPrefix: 'i-',
      },
    });
    const jobs = await api.all('listJobs', { params: { taskId } });
    const firstJobAt = Math.min(
      ...jobs.map((j) => Date.parse(j.startedAt ?? '') || Number.POSITIVE_INFINITY),
    );
    // Beside the accounting (each attempt's payload wall time at its pilot's price, kept to
    // the billionth of a dollar): each job's whole time on its pilot (claim → end: the payload, the log's
    // upload, the completion) at the same price, unrounded.
    const pilotPrice = new Map(
      (await api.all('listPilots', {})).map((p) => [p.pilotId, p.cost?.hourlyUsd] as const),
    );
    let attemptsUsd = 0;
    let unpriced = 0;
    for (const job of jobs) {
      const price = job.pilotId === undefined ? undefined : pilotPrice.get(job.pilotId);
      const wallMs = (Date.parse(job.endedAt ?? '') || 0) - (Date.parse(job.startedAt ?? '') || 0);
      if (price === undefined || wallMs <= 0) unpriced++;
      else attemptsUsd += (wallMs / 3_600_000) * price;
    }
    const retiredAt = Math.max(
      ...stack.cloud.instances().map((i) => Date.parse(i.terminatedAt ?? '') || Date.now()),
    );
    const retiredSec = (retiredAt - started) / 1000;
    const compute = await computeFigures(localTableNames(LOCAL_PREFIX).accounting, taskId, n);
    const ec2 = stack.cloud.requests.slice(ec2Before).filter((r) => r.service === 'ec2');
    const ec2ByAction: Record<string, number> = {};
    for (const r of ec2) ec2ByAction[r.action] = (ec2ByAction[r.action] ?? 0) + 1;
    const runs = stack.cloud.instances().map(instanceRun);
    const launched: Record<string, number> = {};
    for (const r of runs)
      launched[`${r.instanceType} ${r.market}`] = (launched[`${r.instanceType} ${r.market}`] ?? 0) + 1;
    const instanceUsd = runs.reduce((sum, r) => sum + r.usd, 0);
    const instanceHours = runs.reduce((sum, r) => sum + r.seconds / 3600, 0);
    return {
      jobs: n,
      state: task.state,
      seconds: round(seconds),
      jobsPerSecond: round(n / seconds),
      firstInstanceRunningSec:
        firstRunningAt === undefined ? undefined : round((firstRunningAt - started) / 1000),
      firstJobRunningSec: Number.isFinite(firstJobAt) ? round((firstJobAt - started) / 1000) : undefined,
      instancesRetiredSec: round(retiredSec),
      instancesLaunched: launched,
      createFleetCalls: ec2ByAction.CreateFleet ?? 0,
      ec2Requests: ec2.length,
      ec2RequestsPerJob: round(ec2.length / n, 3),
      ec2RequestsByAction: ec2ByAction,
      costs,
      compute,
      jobsRunUsd: { usd: round(attemptsUsd, 9), perMillionJobs: round((attemptsUsd / n) * 1e6, 4), unpriced },
      instances: {
        runs,
        hours: round(instanceHours, 4),
        usd: round(instanceUsd, 6),
        usdPerJob: round(instanceUsd / n, 8),
      },
      prices: { table: PRICE_TABLE_DATE, region: PRICE_TABLE_REGION },
      provisionEverySec: PROVISION_EVERY_SEC,
    };
  } finally {
    clearInterval(sampler);
  }
}

type CloudRun = Awaited<ReturnType<typeof measure>>;

function perMillion(usdPerJob: number): string {
  return money(usdPerJob * 1_000_000);
}

function report(r: CloudRun): string[] {
  const compute: ComputeFigures = r.compute;
  const gap = r.instances.usd - compute.usd;
  return [
    `Gluon cloud benchmark: ${r.jobs} trivial jobs on a cloud ec2 site (spot-first, ${INSTANCE_TYPES.join(' + ')}, at most ${MAX_INSTANCES} instances, $${MAX_HOURLY_USD}/h, slot ${SLOT.cores} core ${SLOT.memoryMB} MB, idle exit ${IDLE_EXIT_SEC} s), fake EC2, local stack (task ${r.state})`,
    `  throughput            ${r.jobsPerSecond} jobs/s (${r.seconds} s submit → ${r.state}, instances started for the task)`,
    `  first instance running ${r.firstInstanceRunningSec ?? '–'} s after the submission (provisioner every ${r.provisionEverySec} s here, every 60 s on AWS; the fake boots in no time)`,
    `  first job running     ${r.firstJobRunningSec ?? '–'} s after the submission (the supervisor, then its pilots' node checks, registration, claim)`,
    `  instances retired     ${r.instancesRetiredSec} s after the submission (pilots idle ${IDLE_EXIT_SEC} s, then the supervisor and the instance end)`,
    `  instances launched    ${Object.entries(r.instancesLaunched)
      .map(([k, c]) => `${c} × ${k}`)
      .join(', ')}`,
    `  EC2 requests          ${r.ec2Requests} (${r.ec2RequestsPerJob} per job; CreateFleet ${r.createFleetCalls}): ${Object.entries(
      r.ec2RequestsByAction,
    )
      .map(([k, c]) => `${k} ${c}`)
      .join(', ')}`,
    ...costLines(r.costs, 'job'),
    computeLine(compute),
    `    the accounting prices the payload's wall time, kept to the billionth of a dollar; the jobs' whole time on their pilots (claim → end: payload, log upload, completion), unrounded: $${r.jobsRunUsd.usd} = ${money(r.jobsRunUsd.perMillionJobs)} per million jobs${r.jobsRunUsd.unpriced > 0 ? ` (${r.jobsRunUsd.unpriced} jobs without a pilot price or times)` : ''}`,
    `    instances (fake's launch → terminate × the table's price of ${r.prices.table}, ${r.prices.region}): ${r.instances.hours} instance-hours = $${r.instances.usd} → $${r.instances.usdPerJob} per job = ${perMillion(r.instances.usdPerJob)} per million jobs`,
    ...r.instances.runs.map(
      (i) =>
        `      ${i.instanceId} ${i.instanceType} ${i.market.padEnd(9)} ${String(i.seconds).padStart(6)} s × $${i.hourlyUsd}/h = $${round(i.usd, 6)}`,
    ),
    `    the attempts' cost (accounting) is ${r.instances.usd > 0 ? round((compute.usd / r.instances.usd) * 100, 1) : 0}% of what the instances cost; the gap $${round(gap, 6)} is boot, pilot start, idle (${IDLE_EXIT_SEC} s before the pilots exit) and shutdown time, and slots left empty`,
    `  (pilot figures from ${r.costs.pilotsReported} pilot exit reports)`,
  ];
}

export async function cloudBench(o: CloudBenchOptions): Promise<void> {
  const stack = await startStack({ pilots: 0, provisionEverySec: PROVISION_EVERY_SEC });
  let run: CloudRun;
  try {
    run = await measure(stack, o);
  } finally {
    await stack.stop();
  }
  console.log(o.json ? JSON.stringify(run) : report(run).join('\n'));
}
