/**
 * Resource classes on the local stack: jobs wait in their site's queue of their class; a one-core
 * pilot (started here by hand, as a site would) takes only single-core jobs, and `gluon why` says
 * why a multi-core job waits; the factory's two-core pilot then runs the multi-core jobs, and runs
 * single-core jobs two at a time.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView, PilotView } from '#core/api/index.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;
let small: ChildProcess | undefined;
const SLOT = { cores: 2, memoryMB: 3000, walltimeSec: 3600, diskMB: 10_000 };

beforeAll(async () => {
  stack = await startTestStack('resource-classes', { pilots: 1, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
  // No factory pilots yet: the one-core pilot started below is the site's only pilot.
  await api.client.call('putSite', { params: { siteId: 'local' }, body: { slot: SLOT, maxPilots: 0 } });
});

afterAll(async () => {
  small?.kill('SIGKILL');
  await stack?.stop();
});

/** A pilot of the local site offering one core and 2000 MB (it can run single-core jobs only). */
function startSmallPilot(): ChildProcess {
  const args = ['pilot/main.ts', 'run', '--api-url', stack.apiUrl, '--site', 'local'];
  args.push('--cores', '1', '--memory-mb', '2000', '--idle-exit-sec', '120', '--poll-wait-sec', '2');
  args.push('--work-dir', join(stack.stateDir, 'small-pilot'), '--max-load-per-core', '1000');
  args.push('--min-free-disk-mb', '0', '--host', 'small-node');
  const log = openSync(join(stack.stateDir, 'small-pilot.log'), 'a');
  return spawn(process.execPath, args, {
    env: { ...process.env, ...stack.env, GLUON_PILOT_TOKEN: stack.pilotToken },
    stdio: ['ignore', log, log],
  });
}

const gluon = async (...args: string[]) =>
  (
    await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
      env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
      encoding: 'utf8',
    })
  ).stdout;

/** Whether two jobs' runs overlapped in time. */
const overlap = (a: JobView, b: JobView) =>
  Date.parse(a.startedAt ?? '') < Date.parse(b.endedAt ?? '') &&
  Date.parse(b.startedAt ?? '') < Date.parse(a.endedAt ?? '');

describe('resource classes', () => {
  let multi: string;
  let pilots: PilotView[];

  it('a one-core pilot takes only single-core jobs, and gluon why says why a multi-core job waits', async () => {
    small = startSmallPilot();
    multi = await api.submit(
      shellTask('multi', 'echo two cores', {
        events: 2,
        resources: { cores: 2, memoryMB: 2000, walltimeSec: 120, diskMB: 100 },
      }),
    );
    const single = await api.submit(shellTask('single', 'echo one core', { events: 3 }));
    expect((await api.finalTask(single)).state).toBe('done');
    const smallPilot = (await api.jobs(single))[0]?.pilotId;
    expect((await api.jobs(single)).every((j) => j.pilotId === smallPilot)).toBe(true);

    // The multi-core jobs wait in the site's mcore queue, which the one-core pilot never polls.
    let why = '';
    await waitFor(
      async () => {
        why = await gluon('why', multi, '--job', '0');
        return why.replace(/\s+/g, ' ').includes('None of the 1 pilots at local can run multi-core jobs');
      },
      { timeoutMs: 30_000, what: "gluon why to name the pilots' class" },
    ).catch(() => undefined);
    // (The CLI wraps its lines.)
    const said = why.replace(/\s+/g, ' ');
    expect(said).toContain('None of the 1 pilots at local can run multi-core jobs');
    // Its two jobs, each once: one dispatch round at a time sends no job twice.
    expect(said).toMatch(/waits in the site's mcore queue \(2 jobs\)/);
    expect((await api.jobs(multi)).map((j) => j.state)).toEqual(['queued', 'queued']);
  });

  it("the factory's two-core pilot runs the multi-core jobs, and single-core jobs two at a time", async () => {
    small?.kill('SIGTERM');
    await api.client.call('putSite', { params: { siteId: 'local' }, body: { slot: SLOT, maxPilots: 1 } });
    expect((await api.finalTask(multi)).state).toBe('done');
    const pair = await api.submit(shellTask('pair', 'sleep 1', { events: 4 }));
    expect((await api.finalTask(pair)).state).toBe('done');

    pilots = await api.pilots();
    const coresOf = (pilotId: string | undefined) =>
      pilots.find((p) => p.pilotId === pilotId)?.resources.cores;
    const multiJobs = await api.jobsWithAttempts(multi);
    // Every attempt of a multi-core job ran on a pilot with two cores: the small one never claimed one.
    const attempts = multiJobs.flatMap((j) => j.attempts ?? []);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.every((a) => coresOf(a.pilotId) === 2)).toBe(true);

    // Four one-core jobs on the site's one two-core pilot: some ran at the same time on it.
    const jobs = await api.jobs(pair);
    expect(new Set(jobs.map((j) => j.pilotId)).size).toBe(1);
    expect(coresOf(jobs[0]?.pilotId)).toBe(2);
    const overlapping = jobs.some((a, i) => jobs.some((b, k) => k > i && overlap(a, b)));
    expect(overlapping).toBe(true);
  });
});
