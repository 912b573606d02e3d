/**
 * The local stack as the benchmarks run it (in memory, quiet, free ports), and what they do with it:
 * wait for a task's end, start the site's pilots ahead of the measured task.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GluonClient } from '#client/gluon-client.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { until } from './measure.ts';

const quiet = () => undefined;
const TERMINAL = ['done', 'partial', 'failed', 'cancelled'];

/** What one trivial job asks for: it fits the local site's slot (this machine) many times over. */
export const TRIVIAL_RESOURCES = { cores: 1, memoryMB: 100, walltimeSec: 600, diskMB: 10 };

export function trivialTask(
  name: string,
  jobs: number,
  command = 'true',
  args: string[] = [],
): TaskSpecInput {
  return {
    name,
    payload: { command, args },
    events: jobs,
    split: { eventsPerJob: 1 },
    resources: TRIVIAL_RESOURCES,
    maxAttempts: 2,
  };
}

export async function startStack(extra: Parameters<typeof startLocalStack>[0] = {}): Promise<LocalStack> {
  return startLocalStack({
    stateDir: mkdtempSync(join(tmpdir(), 'gluon-bench-')),
    apiPort: 0,
    dynamodbPort: 0,
    sqsPort: 0,
    sfnPort: 0,
    eventsPort: 0,
    inMemory: true,
    pilotCheckEverySec: 2,
    log: quiet,
    ...extra,
  });
}

export async function waitForTask(api: GluonClient, taskId: string, counter?: { polls: number }) {
  return until(
    async () => {
      if (counter !== undefined) counter.polls++;
      const task = await api.call('getTask', { params: { taskId } });
      return TERMINAL.includes(task.state) ? task : undefined;
    },
    `task ${taskId} to end`,
    { intervalMs: 1000 },
  );
}

/**
 * Starts the site's pilots as its factory would for a first task, and waits until they all wait
 * for work, as slurmd waits for jobs. Returns the cold start: from that first task's submission
 * to its first job running (factory cycle, pilot start, node checks, registration, claim).
 */
export async function warmPilots(stack: LocalStack, api: GluonClient, pilots: number): Promise<number> {
  const submittedAt = Date.now();
  const warm = await api.call('submitTask', { body: trivialTask('warm-up', pilots, 'sleep', ['2']) });
  await waitForTask(api, warm.taskId);
  await until(async () => (stack.factory.alive().length >= pilots ? true : undefined), 'the pilots', {
    timeoutMs: 60_000,
  });
  const jobs = await api.all('listJobs', { params: { taskId: warm.taskId } });
  const firstStart = Math.min(
    ...jobs.map((job) => Date.parse(job.startedAt ?? '') || Number.POSITIVE_INFINITY),
  );
  return (firstStart - submittedAt) / 1000;
}
