/**
 * The time to compute a matchmaking order (issue 9, `npm run bench -- --brokerage`): one dispatch
 * round's order (core/policies/dispatch-jobs.ts planDispatch) over 100 sites whose queues have
 * room for 10,000 jobs in all, 200 tasks of 50 users in a two-level share tree. Pure core: what it
 * costs in CPU, without the reads and sends around it.
 */
import { planDispatch } from '#core/policies/dispatch-jobs.ts';
import type { DispatchEntry } from '#core/policies/ports.ts';
import { parseShareTree } from '#core/policies/shares.ts';
import { percentile, round } from './measure.ts';

export interface MatchmakingFigures {
  sites: number;
  tasks: number;
  users: number;
  places: number;
  /** One whole order (every place of every site), ms: median and worst of the runs. */
  orderMsP50: number;
  orderMsMax: number;
  /** Per place given out, µs. */
  perPlaceUs: number;
}

export function matchmakingBench(
  options: { sites?: number; places?: number; runs?: number } = {},
): MatchmakingFigures {
  const sites = options.sites ?? 100;
  const places = options.places ?? 10_000;
  const runs = options.runs ?? 5;
  const users = 50;
  const tree = parseShareTree({
    groups: [
      { name: 'atlas', share: 60 },
      { name: 'cms', share: 30 },
      { name: 'lhcb', share: 10 },
      { name: 'atlas-prod', parent: 'atlas', share: 70 },
      { name: 'atlas-user', parent: 'atlas', share: 30 },
    ],
    users: Array.from({ length: users }, (_, u) => ({
      user: `user${u}`,
      group: ['atlas-prod', 'atlas-user', 'cms', 'lhcb'][u % 4] as string,
    })),
    defaultGroup: 'cms',
  });
  const siteIds = Array.from({ length: sites }, (_, s) => `site-${String(s).padStart(3, '0')}`);
  // Each task may run at 10 of the sites; jobs enough to fill every place.
  const entries: DispatchEntry[] = Array.from({ length: 200 }, (_, t) => ({
    taskId: `t-${String(t).padStart(6, '0')}`,
    owner: `user${t % users}`,
    memoryMB: 2000,
    priority: 400 + (t % 5) * 50,
    createdAt: new Date(Date.UTC(2026, 11, 1, 0, t)).toISOString(),
    jobCount: 1000,
    released: 0,
    cores: t % 7 === 0 ? 8 : 1,
    siteIds: Array.from({ length: 10 }, (_, k) => siteIds[(t * 7 + k * 10) % sites] as string),
  }));
  const rooms = siteIds.map((siteId) => ({
    siteId,
    room: Math.floor(places / sites),
    here: entries.filter((e) => e.siteIds.includes(siteId)),
  }));
  const times: number[] = [];
  let given = 0;
  for (let run = 0; run < runs; run++) {
    const usage = new Map(Array.from({ length: users }, (_, u) => [`user#user${u}`, (u * 37) % 500]));
    const started = performance.now();
    const plan = planDispatch({ tree, usage, inFlight: new Map(), rooms });
    times.push(performance.now() - started);
    given = plan.sequence.length;
  }
  times.sort((a, b) => a - b);
  return {
    sites,
    tasks: entries.length,
    users,
    places: given,
    orderMsP50: round(percentile(times, 0.5), 1),
    orderMsMax: round(times.at(-1) ?? 0, 1),
    perPlaceUs: round((percentile(times, 0.5) * 1000) / Math.max(1, given), 1),
  };
}

export function matchmakingLines(f: MatchmakingFigures): string[] {
  return [
    `matchmaking order: ${f.places} places over ${f.sites} sites, ${f.tasks} tasks of ${f.users} users in a 2-level share tree`,
    `  one whole order: ${f.orderMsP50} ms (p50), ${f.orderMsMax} ms (max); ${f.perPlaceUs} µs per place`,
  ];
}
