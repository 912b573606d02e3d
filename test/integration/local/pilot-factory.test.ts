import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { silentLog } from '#local/log.ts';
import {
  type PilotFactory,
  type PilotFactoryOptions,
  pilotCommandLine,
  sqsQueueDepth,
  startPilotFactory,
} from '#local/pilot-factory.ts';
import { awsEnvFor } from '#local/stand-ins.ts';
import { uniquePrefix, useStandInsEnv } from '#test/support/stand-ins-env.ts';

const FAKE_PILOT = fileURLToPath(new URL('../../fixtures/local/fake-pilot.ts', import.meta.url));

let restoreEnv: () => void;
let sqs: SQSClient;
let stateDir: string;
let queueUrl: string;
let factory: PilotFactory | undefined;
let depthReads = 0;
let mostAlive = 0;
let sampler: NodeJS.Timeout | undefined;

async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function queued(): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

async function sendMessages(count: number): Promise<void> {
  for (let start = 0; start < count; start += 10) {
    const entries = Array.from({ length: Math.min(10, count - start) }, (_, i) => ({
      Id: String(start + i),
      MessageBody: `job-${start + i}`,
    }));
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  }
}

function startFactory(
  mode: 'take-one' | 'stubborn',
  overrides: Partial<PilotFactoryOptions> = {},
): PilotFactory {
  const depth = sqsQueueDepth(sqs, async () => queueUrl);
  factory = startPilotFactory({
    siteId: 'local',
    maxPilots: 3,
    queueDepth: async () => {
      depthReads += 1;
      return depth();
    },
    stateDir,
    apiUrl: 'http://127.0.0.1:9',
    pilotToken: 'token',
    idleExitSec: 5,
    env: { ...awsEnvFor(inject('awsEndpoints')), FAKE_QUEUE_URL: queueUrl, FAKE_WORK_MS: '150' },
    checkEverySec: 0.05,
    startupGraceSec: 3,
    command: () => ({ command: process.execPath, args: [FAKE_PILOT, mode] }),
    log: silentLog,
    ...overrides,
  });
  const f = factory;
  sampler = setInterval(() => {
    mostAlive = Math.max(mostAlive, f.alive().length);
  }, 5);
  return f;
}

beforeAll(() => {
  restoreEnv = useStandInsEnv();
  sqs = new SQSClient({});
});

afterAll(() => {
  sqs?.destroy();
  restoreEnv?.();
});

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'gluon-factory-'));
  const out = await sqs.send(
    new CreateQueueCommand({ QueueName: `${uniquePrefix('it-factory-')}site-local` }),
  );
  queueUrl = out.QueueUrl as string;
  depthReads = 0;
  mostAlive = 0;
});

afterEach(async () => {
  clearInterval(sampler);
  await factory?.stop({ signal: 'SIGKILL', timeoutMs: 2_000 });
  factory = undefined;
  await rm(stateDir, { recursive: true, force: true });
});

describe('local pilot factory', () => {
  it('starts no pilot while the queue is empty', async () => {
    const f = startFactory('take-one');
    await until('ten looks at the queue', () => depthReads >= 10);
    expect(await f.check()).toBe(0);
    expect(f.list()).toEqual([]);
  });

  it('starts pilots while jobs wait, never more than the cap, and stops once the queue is empty', async () => {
    await sendMessages(9);
    const f = startFactory('take-one');
    await until('every message taken', async () => (await queued()) === 0);
    await until('every pilot gone', () => f.alive().length === 0);

    expect(mostAlive).toBeGreaterThan(0);
    expect(mostAlive).toBeLessThanOrEqual(3);
    const pilots = f.list();
    // Each fake pilot takes one message, so nine messages needed more pilots than the cap.
    expect(pilots.length).toBeGreaterThanOrEqual(9);
    expect(pilots.filter((p) => p.exitCode === 0)).toHaveLength(9);

    // Nothing waits any more: more looks at the queue start nobody.
    const started = pilots.length;
    const reads = depthReads;
    await until('ten more looks at the queue', () => depthReads >= reads + 10);
    expect(f.list()).toHaveLength(started);
  });

  it('writes each pilot output to logs/pilot-<n>.log and gives it a work dir', async () => {
    await sendMessages(1);
    const f = startFactory('take-one');
    await until('a pilot that ended', () => f.list().some((p) => !p.alive));
    const [pilot] = f.list();
    expect(pilot?.logFile).toBe(join(stateDir, 'logs', `pilot-${pilot?.n}.log`));
    expect(pilot?.workDir).toBe(join(stateDir, 'pilots', String(pilot?.n)));
    expect(existsSync(pilot?.workDir as string)).toBe(true);
    const text = await readFile(pilot?.logFile as string, 'utf8');
    expect(text).toContain('on site local for http://127.0.0.1:9');
    expect(text).toContain('took job-0');
  });

  it('numbers pilots after those of an earlier run, so work dirs are never reused', async () => {
    await sendMessages(1);
    const first = startFactory('take-one');
    await until('the first pilot ended', () => first.list().some((p) => !p.alive));
    await first.stop();
    clearInterval(sampler);
    await sendMessages(1);
    const second = startFactory('take-one');
    await until('the second pilot ended', () => second.list().some((p) => !p.alive));
    expect(second.list()[0]?.n).toBeGreaterThan(first.list()[0]?.n as number);
  });

  it('stopAll sends SIGTERM, then SIGKILL to a pilot that does not stop in time', async () => {
    await sendMessages(1);
    const f = startFactory('stubborn', { maxPilots: 1 });
    await until('a stubborn pilot ready', async () => {
      const pilot = f.alive()[0];
      return pilot !== undefined && (await readFile(pilot.logFile, 'utf8').catch(() => '')).includes('ready');
    });
    await f.stopAll({ timeoutMs: 300 });
    const [pilot] = f.list();
    expect(pilot?.alive).toBe(false);
    expect(pilot?.signal).toBe('SIGKILL');
    expect(await readFile(pilot?.logFile as string, 'utf8')).toContain('SIGTERM ignored');
  });

  it('kill() signals one of its own pilots only', async () => {
    await sendMessages(1);
    const f = startFactory('stubborn', { maxPilots: 1 });
    await until('a pilot', () => f.alive().length === 1);
    const pid = f.alive()[0]?.pid as number;
    expect(f.kill(process.pid, 'SIGKILL')).toBe(false);
    expect(f.kill(pid, 'SIGKILL')).toBe(true);
    await until('the pilot gone', () => f.alive().length === 0);
    expect(f.list()[0]).toMatchObject({ pid, alive: false, signal: 'SIGKILL' });
  });
});

describe('pilot command line', () => {
  it('runs pilot/main.ts with this Node and the pilot options, the token kept off the command line', () => {
    const line = pilotCommandLine({
      apiUrl: 'http://127.0.0.1:8642',
      siteId: 'local',
      idleExitSec: 30,
      workDir: '/tmp/w/1',
    });
    expect(line.command).toBe(process.execPath);
    expect(line.args[0]).toMatch(/pilot\/main\.ts$/);
    expect(line.args.slice(1)).toEqual([
      'run',
      '--api-url',
      'http://127.0.0.1:8642',
      '--site',
      'local',
      '--idle-exit-sec',
      '30',
      '--work-dir',
      '/tmp/w/1',
    ]);
  });
});
