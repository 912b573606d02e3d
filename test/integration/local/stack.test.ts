import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GluonClient } from '#client/gluon-client.ts';
import { silentLog } from '#local/log.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';

const FAKE_PILOT = fileURLToPath(new URL('./fake-pilot.ts', import.meta.url));
const MAX_PILOTS = 2;

let stateDir: string;
let stack: LocalStack;
let user: GluonClient;
let pilot: GluonClient;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The first line a fake pilot printed: its arguments and variables. */
async function given(logFile: string): Promise<{ argv: string[]; pilotToken?: string; dynamodb?: string }> {
  const first = await until(`the first line of ${logFile}`, async () => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    return text.includes('\n') ? text.split('\n')[0] : undefined;
  });
  return JSON.parse(first as string);
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-stack-'));
  stack = await startLocalStack({
    stateDir,
    apiPort: 0,
    dynamodbPort: 0,
    sqsPort: 0,
    sfnPort: 0,
    eventsPort: 0,
    inMemory: true,
    pilots: MAX_PILOTS,
    pilotCheckEverySec: 0.2,
    reapEverySec: 1,
    pilotLauncher: [process.execPath, FAKE_PILOT],
    log: silentLog,
  });
  user = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken, retries: 0 });
  pilot = user.withToken(stack.pilotToken);
});

afterAll(async () => {
  await stack?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe('local stack', () => {
  it('writes the API URL and a user token to local.json for the CLI', async () => {
    const local = JSON.parse(await readFile(join(stateDir, 'local.json'), 'utf8')) as Record<string, unknown>;
    expect(local).toMatchObject({
      apiUrl: stack.apiUrl,
      token: stack.userToken,
      pilotToken: stack.pilotToken,
    });
    const cli = new GluonClient({
      baseUrl: local.apiUrl as string,
      token: local.token as string,
      retries: 0,
    });
    expect(await cli.call('listTasks', {})).toEqual({ items: [] });
  });

  it('defines the local site, with the cap on pilots it was given', async () => {
    const { items } = await user.call('listSites', {});
    expect(items).toEqual([
      expect.objectContaining({ siteId: 'local', kind: 'local', status: 'online', maxPilots: MAX_PILOTS }),
    ]);
  });

  it('starts no pilot while no job waits', async () => {
    const demand = await pilot.call('siteDemand', { params: { siteId: 'local' } });
    expect(demand).toMatchObject({ queuedJobs: 0, pilotsWanted: 0 });
    expect(await stack.factory.check()).toBe(0);
    expect(stack.factory.list()).toEqual([]);
  });

  it('starts pilots through the site demand once jobs wait, never more than the site takes', async () => {
    await user.call('submitTask', {
      body: {
        name: 'waits',
        payload: { command: 'true' },
        events: 4,
        split: { eventsPerJob: 1 },
        resources: { cores: 1, memoryMB: 100, walltimeSec: 60, diskMB: 10 },
      },
    });
    const demand = await until('the jobs in the site queue', async () => {
      const d = await pilot.call('siteDemand', { params: { siteId: 'local' } });
      return d.queuedJobs === 4 ? d : undefined;
    });
    expect(demand.pilotsWanted).toBe(MAX_PILOTS);

    await until('the pilots', () => (stack.factory.alive().length >= MAX_PILOTS ? true : undefined));
    // The pilots (fakes) never register, so the site still wants pilots: those started count.
    for (let i = 0; i < 3; i++) expect(await stack.factory.check()).toBe(0);
    const pilots = stack.factory.list();
    expect(pilots).toHaveLength(MAX_PILOTS);

    for (const started of pilots) {
      expect(started.workDir).toBe(join(stateDir, 'pilots', started.id));
      expect(started.logFile).toBe(join(stateDir, 'logs', `pilot-${started.id}.log`));
      const { argv, pilotToken, dynamodb } = await given(started.logFile);
      expect(argv).toEqual([
        'run',
        '--api-url',
        stack.apiUrl,
        '--site',
        'local',
        '--batch-id',
        started.id,
        '--walltime-sec',
        String(demand.slot.walltimeSec - 300),
        '--cores',
        String(demand.slot.cores),
        '--memory-mb',
        String(demand.slot.memoryMB),
        '--idle-exit-sec',
        '30',
        '--work-dir',
        started.workDir,
      ]);
      // The token travels in the environment, never on the command line.
      expect(pilotToken).toBe(stack.pilotToken);
      expect(dynamodb).toBe(stack.endpoints.dynamodb);
    }
  });

  it("answers GET /metrics from the stack's metrics file, and refuses an unknown metric naming the field", async () => {
    // The fake pilots never claim and the workflow's own dispatch round released the jobs, so the
    // file may hold nothing yet: what is asked is the wiring (the route, the reader, the file).
    const answer = await user.call('getMetrics', { query: { names: 'JobsReleased,QueueDepth' } });
    expect(answer.metrics.every((m) => ['JobsReleased', 'QueueDepth'].includes(m.name))).toBe(true);
    const text = await readFile(join(stateDir, 'metrics.ndjson'), 'utf8').catch(() => '');
    for (const line of text.split('\n').filter(Boolean))
      expect(JSON.parse(line)._aws.CloudWatchMetrics[0].Namespace, line).toBe('Gluon');
    await expect(user.call('getMetrics', { query: { names: 'Nope' } })).rejects.toMatchObject({
      status: 400,
      issues: [expect.objectContaining({ field: 'query.names' })],
    });
  });

  it('ends its pilots and removes local.json when it stops', async () => {
    const pilots = stack.factory.list();
    expect(pilots.length).toBeGreaterThan(0);
    await stack.stop();
    expect(stack.factory.alive()).toEqual([]);
    for (const ended of stack.factory.list()) {
      expect(ended).toMatchObject({ alive: false, exitCode: 0 });
      expect(await readFile(ended.logFile, 'utf8')).toContain('SIGTERM');
    }
    expect(existsSync(join(stateDir, 'local.json'))).toBe(false);
  });
});
