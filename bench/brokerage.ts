/**
 * `npm run bench -- --brokerage`: the VO resource manager's decisions, timed in the pure core (no
 * stack, no I/O). Printed (or `--json`), never asserted:
 * - **brokerage decisions per second** over 100 sites of a realistic mix (grid, HPC and cloud
 *   sites of 20 to 5,000 pilots; some offline, in test, without GPUs, aarch64, lacking tags,
 *   failing, with full queues) holding 10,000 queued jobs between them, for a mix of task specs
 *   (single-core, multi-core, high-memory, GPU, aarch64 with tags): the filter chain, the
 *   weighting and the decision record, with p50/p99 of one decision in µs, and the record's size;
 * - **spreading 10,000 queued jobs** by the decision's shares (smooth weighted round-robin):
 *   jobs/s and the time to build one cycle.
 *
 * Sections are a list; the last is the time to compute a matchmaking order (fair share: one
 * dispatch round's order over 100 sites and 10,000 places, bench/matchmaking.ts).
 */

import { brokerTask } from '#core/policies/broker-task.ts';
import type { BrokerageDecision } from '#core/policies/brokerage-decision.ts';
import { assignmentCycle, jobSites } from '#core/policies/site-assignment.ts';
import type { BrokerSite, SiteFacts } from '#core/policies/site-filters.ts';
import { maxQueuedOf, SiteSchema } from '#core/sites/site.ts';
import { parseTaskSpec, type TaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { type MatchmakingFigures, matchmakingBench, matchmakingLines } from './matchmaking.ts';
import { percentile, round } from './measure.ts';

export interface BrokerageBenchOptions {
  json?: boolean;
}

const SITES = 100;
const QUEUED_JOBS = 10_000;
const AT = '2026-12-01T00:00:00.000Z';

/** A small deterministic generator (mulberry32), so every run looks at the same sites. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 100 sites as a VO has them: mostly grid sites with a few large ones, HPC centres with big
 * multi-core slots, cloud regions; 5% offline, 3% in test, a tenth aarch64 or with GPUs, some
 * failing, their pilots partly busy, and 10,000 jobs queued between them (more at the large ones,
 * a few queues full).
 */
export function siteMix(n = SITES, queued = QUEUED_JOBS): SiteFacts[] {
  const next = random(9);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const sites: BrokerSite[] = Array.from({ length: n }, (_, i) => {
    const kind = i % 10 === 0 ? 'hpc' : i % 7 === 0 ? 'cloud' : 'grid';
    const maxPilots = kind === 'hpc' ? 2000 + Math.floor(next() * 3000) : Math.floor(20 + next() ** 2 * 2000);
    const cores = kind === 'hpc' ? 64 : pick([1, 8, 8, 16]);
    const status = i % 20 === 3 ? 'offline' : i % 33 === 5 ? 'test' : 'online';
    const site: BrokerSite = SiteSchema.parse({
      siteId: `site-${String(i).padStart(3, '0')}`,
      kind,
      status,
      slot: {
        cores,
        memoryMB: cores * pick([2000, 2000, 3000, 4000]),
        walltimeSec: pick([86_400, 172_800, 43_200]),
        diskMB: cores * 20_000,
        ...(i % 9 === 4 ? { gpus: pick([1, 4, 8]) } : {}),
        ...(i % 11 === 6 ? { arch: 'aarch64' } : {}),
      },
      maxPilots,
      tags: next() < 0.8 ? ['cvmfs', 'apptainer'] : ['cvmfs'],
    });
    const busy = Math.floor(maxPilots * next());
    site.census = {
      pilots: { starting: Math.floor(next() * 5), idle: Math.floor(next() * 10), busy, draining: 0 },
      at: AT,
    };
    site.recent = {
      failureRate: i % 17 === 8 ? 0.7 : next() * 0.2,
      attempts: Math.floor(next() * 500),
      ...(next() < 0.7 ? { finishedPerMin: round(maxPilots * next() * 0.05, 2) } : {}),
    };
    return site;
  });
  // The queued jobs: a few small sites' queues full (maxQueued, by default their pilots, at
  // least 10), the rest of the 10,000 spread over the other sites by size.
  const full = new Set(sites.filter((s, i) => i % 13 === 2 && maxQueuedOf(s) <= 200).map((s) => s.siteId));
  const fullJobs = sites.filter((s) => full.has(s.siteId)).reduce((a, s) => a + maxQueuedOf(s), 0);
  const others = sites.filter((s) => !full.has(s.siteId));
  const total = others.reduce((a, s) => a + s.maxPilots, 0);
  let left = queued - fullJobs;
  const depth = new Map<string, number>();
  others.forEach((site, k) => {
    const share = k === others.length - 1 ? left : Math.floor(((queued - fullJobs) * site.maxPilots) / total);
    left -= share;
    depth.set(site.siteId, share);
  });
  return sites.map((site) => ({
    site,
    queuedJobs: full.has(site.siteId) ? maxQueuedOf(site) : (depth.get(site.siteId) ?? 0),
  }));
}

const SPECS: TaskSpecInput[] = [
  { resources: { cores: 1, memoryMB: 2000, walltimeSec: 21_600 } },
  { resources: { cores: 8, memoryMB: 16_000, walltimeSec: 43_200 } },
  { resources: { cores: 1, memoryMB: 6000, walltimeSec: 10_800 } },
  { resources: { cores: 4, memoryMB: 8000, gpus: 1, tags: ['apptainer'] } },
  {
    resources: { cores: 8, memoryMB: 8000, arch: 'aarch64', tags: ['cvmfs'] },
    sites: { deny: ['site-001'] },
  },
].map((fields) => ({
  name: 'bench',
  payload: { command: 'x' },
  events: 10,
  split: { eventsPerJob: 1 },
  ...fields,
}));

function micros(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1000;
}

interface Section {
  name: string;
  run(): Record<string, number | string>;
  lines(f: Record<string, number | string>): string[];
}

/** The time to compute one dispatch round's matchmaking order (bench/matchmaking.ts). */
function matchmakingSection(): Section {
  return {
    name: 'matchmaking',
    run: () => ({ ...matchmakingBench() }),
    lines: (f) => matchmakingLines(f as unknown as MatchmakingFigures),
  };
}

function decisionsSection(sites: SiteFacts[], specs: TaskSpec[]): Section {
  return {
    name: 'brokerage',
    run() {
      // Warm up the JIT, then time decisions for about two seconds.
      for (let k = 0; k < 300; k++) brokerTask(specs[k % specs.length] as TaskSpec, sites, AT);
      const times: number[] = [];
      const sizes: number[] = [];
      let chosen = 0;
      const cpuBefore = process.cpuUsage();
      const started = process.hrtime.bigint();
      while (Number(process.hrtime.bigint() - started) < 2e9) {
        const spec = specs[times.length % specs.length] as TaskSpec;
        const t = process.hrtime.bigint();
        const decision = brokerTask(spec, sites, AT);
        times.push(micros(t));
        chosen += decision.chosen.length;
        if (sizes.length < specs.length) sizes.push(Buffer.byteLength(JSON.stringify(decision)));
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      times.sort((a, b) => a - b);
      return {
        sites: sites.length,
        queuedJobs: sites.reduce((a, s) => a + (s.queuedJobs ?? 0), 0),
        decisions: times.length,
        decisionsPerSec: Math.round(times.length / seconds),
        // What a core gives when it is not shared: the wall rate falls when other processes run.
        decisionsPerCpuSec: Math.round(times.length / cpuSeconds),
        p50Micros: round(percentile(times, 0.5), 1),
        p99Micros: round(percentile(times, 0.99), 1),
        sitesChosenPerDecision: round(chosen / times.length, 1),
        recordBytesMax: Math.max(...sizes),
      };
    },
    lines: (f) => [
      `brokerage, ${f.sites} sites holding ${f.queuedJobs} queued jobs, ${SPECS.length} kinds of task:`,
      `  decisions               ${f.decisionsPerSec}/s (${f.decisions} in ~2 s), ${f.decisionsPerCpuSec} per CPU second`,
      `  one decision            p50 ${f.p50Micros} µs, p99 ${f.p99Micros} µs`,
      `  sites chosen            ${f.sitesChosenPerDecision} per decision on average`,
      `  decision record         at most ${f.recordBytesMax} bytes (stored once per task)`,
    ],
  };
}

function spreadSection(decision: BrokerageDecision): Section {
  return {
    name: 'spread',
    run() {
      const siteIds = decision.chosen.map((c) => c.siteId);
      const shares = decision.chosen.map((c) => c.share);
      // A cycle is built once per task and process (then cached): timed warm, as a page finds it.
      for (let k = 0; k < 20; k++) assignmentCycle(shares);
      const cycleStart = process.hrtime.bigint();
      const cycle = assignmentCycle(shares);
      const cycleMicros = micros(cycleStart);
      const start = process.hrtime.bigint();
      let rounds = 0;
      while (Number(process.hrtime.bigint() - start) < 1e9) {
        // What the resume step does for its page (jobs sent again to the sites by their shares): each job's site.
        const siteOf = jobSites({ siteIds, siteShares: [...shares] });
        for (let j = 0; j < QUEUED_JOBS; j++) siteOf(j);
        rounds += 1;
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return {
        sites: siteIds.length,
        cycleLength: cycle.length,
        cycleMicros: round(cycleMicros, 1),
        jobsPerSec: Math.round((rounds * QUEUED_JOBS) / seconds),
        tenThousandJobsMillis: round((seconds * 1000) / rounds, 3),
      };
    },
    lines: (f) => [
      `spreading ${QUEUED_JOBS} queued jobs over the ${f.sites} sites chosen for a single-core task:`,
      `  by stored shares        ${f.jobsPerSec} jobs/s (${f.tenThousandJobsMillis} ms for ${QUEUED_JOBS}); one cycle of ${f.cycleLength} built in ${f.cycleMicros} µs`,
    ],
  };
}

export async function brokerageBench(options: BrokerageBenchOptions): Promise<void> {
  const sites = siteMix();
  const specs = SPECS.map((s) => parseTaskSpec(s));
  const SECTIONS: Section[] = [
    decisionsSection(sites, specs),
    spreadSection(brokerTask(specs[0] as TaskSpec, sites, AT)),
    matchmakingSection(),
  ];
  const figures: Record<string, Record<string, number | string>> = {};
  for (const section of SECTIONS) figures[section.name] = section.run();
  if (options.json) {
    console.log(JSON.stringify(figures));
    return;
  }
  for (const section of SECTIONS) console.log(section.lines(figures[section.name] ?? {}).join('\n'));
}
