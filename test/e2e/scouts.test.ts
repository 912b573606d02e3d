// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${nEvents} placeholders are literal text in task specs
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '#core/api/index.ts';
import type { LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack } from '#test/support/e2e.ts';

/**
 * Scouts and dynamic splitting on the local stack: a scouted task runs its scouts, the workflow
 * sizes the rest from what the pilots measured, and `gluon status` shows both; scouts that all
 * fail stop the task with their errors.
 */
let stack: LocalStack;
let api: Api;

beforeAll(async () => {
  stack = await startTestStack('scouts', { pilots: 2, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
});

afterAll(async () => {
  await stack?.stop();
});

/** The CLI as a user runs it (a child process: this process serves the API it calls); its stdout. */
async function gluon(...args: string[]): Promise<string> {
  const run = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
  return run.stdout;
}

/** Holds 60 MB (besides Node itself) and takes 20 ms per event, for its ${nEvents} events. */
const GENERATOR =
  'const n = Number(process.argv[1]); const a = Buffer.alloc(60 * 1024 * 1024, 1); let i = 0;' +
  ' const step = () => { if (i++ >= n) { console.log(a.length, n); return; } setTimeout(step, 20); }; step();';

describe('a scouted task', () => {
  it('sizes its jobs from the scouts, and the sizes are visible', async () => {
    const taskId = await api.submit({
      name: 'scouted-gen',
      payload: { command: process.execPath, args: ['-e', GENERATOR, '${nEvents}'] },
      events: 1200,
      split: { targetWalltimeSec: 6, eventsPerJob: 100, scouts: 3 },
      resources: { cores: 1, memoryMB: 400, walltimeSec: 120, diskMB: 100 },
    });
    const scouting = await api.task(taskId);
    expect(scouting.jobCount).toBe(3);

    const done = await api.finalTask(taskId, 180_000);
    expect(done.state).toBe('done');
    const s = done.scouting;
    expect(s).toMatchObject({ state: 'sized', scouts: 3, unit: 'event', targetWalltimeSec: 6 });
    const { measured, perJob = 0, jobs = 0, memoryMB = 0 } = s ?? {};
    // What the pilots measured: 20 ms an event at least; 60 MB held at least.
    expect(measured?.finished).toBe(3);
    expect(measured?.wallSecPerUnit).toBeGreaterThanOrEqual(0.02);
    expect(measured?.peakRssMB).toBeGreaterThanOrEqual(60);
    // The rest (900 events) cut to about 6 s a job at that rate, memory peak + 20 % in 100 MB.
    expect(perJob).toBe(Math.floor(6 / (measured?.wallSecPerUnit ?? 1) + 1e-9));
    expect(jobs).toBe(Math.ceil(900 / perJob));
    expect(memoryMB).toBe(Math.ceil(((measured?.peakRssMB ?? 0) * 1.2) / 100) * 100);
    expect(done.jobCount).toBe(3 + jobs);
    expect(done.counts.finished).toBe(3 + jobs);

    // Every event generated once: scouts of 100, then the sized jobs, the last one the remainder.
    const all = await api.jobs(taskId);
    expect(all.map((j) => [j.firstEvent, j.nEvents])).toEqual([
      [0, 100],
      [100, 100],
      [200, 100],
      ...Array.from({ length: jobs }, (_, k) => [300 + k * perJob, Math.min(perJob, 900 - k * perJob)]),
    ]);

    // What the user sees.
    const text = await gluon('status', taskId);
    expect(text).toContain(`scouts: 3 of 3 finished: `);
    expect(text).toContain(`peak RSS ${measured?.peakRssMB} MB`);
    expect(text).toContain(
      `sizing: ${perJob} events per job (target 6 s), ${jobs} more jobs, memory ${memoryMB} MB`,
    );
    const json = JSON.parse(await gluon('status', taskId, '--json')) as TaskView;
    expect(json.scouting).toEqual(s);
  });

  it('stops when every scout fails, with a clear message, and runs no other job', async () => {
    const taskId = await api.submit(
      shellTask('scouts-fail', 'exit 3', {
        events: 50,
        split: { targetWalltimeSec: 60, eventsPerJob: 5, scouts: 2 },
        maxAttempts: 1,
      }),
    );
    const failed = await api.finalTask(taskId, 120_000);
    expect(failed).toMatchObject({
      state: 'failed',
      jobCount: 2,
      reason: 'all 2 scout jobs failed; no other job ran (exit code 3 ×2)',
      scouting: { state: 'not-sized', scouts: 2 },
    });
    expect(failed.counts).toMatchObject({ failed: 2, finished: 0, queued: 0, defined: 0 });
    expect((await api.jobs(taskId)).map((j) => j.jobIndex)).toEqual([0, 1]);
    const text = await gluon('status', taskId);
    expect(text).toContain('reason: all 2 scout jobs failed; no other job ran (exit code 3 ×2)');
    expect(text).toContain('scouts: 2 jobs; the task ended before it was sized from them');
  });
});
