import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { consoleLog, type Log } from './log.ts';

/**
 * The local site's pilot factory: while jobs wait in the site queue it starts pilot processes
 * (`node pilot/main.ts run …`), never more than `maxPilots` alive at once. Pilots leave on their
 * own after `idleExitSec` without work, so the factory only ever starts them.
 */
export interface QueueDepth {
  /** Messages waiting (ApproximateNumberOfMessages). */
  visible: number;
  /** Messages received by a pilot and not yet deleted (ApproximateNumberOfMessagesNotVisible). */
  inFlight: number;
}

export interface PilotCommand {
  command: string;
  args: string[];
}

export interface PilotFactoryOptions {
  siteId: string;
  /** Most pilots alive at once. */
  maxPilots: number;
  /** The site queue's depth (see sqsQueueDepth). */
  queueDepth: () => Promise<QueueDepth>;
  /** Pilot work dirs go under `<stateDir>/pilots/<n>`, logs to `<stateDir>/logs/pilot-<n>.log`. */
  stateDir: string;
  apiUrl: string;
  pilotToken: string;
  /** A pilot leaves after this long without a job. */
  idleExitSec: number;
  /** Environment of pilot processes on top of this process's (AWS endpoints, dummy credentials). */
  env?: Record<string, string>;
  /** How often the queue is looked at (default 1 s). */
  checkEverySec?: number;
  /**
   * A pilot younger than this is taken to be starting up: it has not polled yet, so a waiting
   * message is counted as its own rather than a reason for another pilot (default 10 s).
   */
  startupGraceSec?: number;
  /** The command of pilot number `n` (default: this Node running pilot/main.ts). */
  command?: (pilot: { n: number; workDir: string; siteId: string }) => PilotCommand;
  log?: Log;
}

export interface PilotProcess {
  n: number;
  pid: number | undefined;
  startedAt: string;
  workDir: string;
  logFile: string;
  alive: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  endedAt?: string;
}

export interface PilotFactory {
  /** Every pilot started so far, alive or not. */
  list(): PilotProcess[];
  /** Pilots alive now. */
  alive(): PilotProcess[];
  /** Looks at the queue and starts pilots now (the timer does this every `checkEverySec`). */
  check(): Promise<number>;
  /** Sends a signal to one pilot (tests: kill a pilot mid-job). False if it is not ours or not alive. */
  kill(pid: number, signal?: NodeJS.Signals): boolean;
  /** Signals every pilot (SIGTERM by default), then SIGKILL those still alive after `timeoutMs`. */
  stopAll(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<void>;
  /** Stops starting pilots, then stopAll. */
  stop(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const PILOT_MAIN = join(REPO_ROOT, 'pilot', 'main.ts');
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const KILL_WAIT_MS = 3_000;

interface Child {
  info: PilotProcess;
  process: ChildProcess;
  exited: Promise<void>;
  startedMs: number;
}

export function startPilotFactory(options: PilotFactoryOptions): PilotFactory {
  const log = options.log ?? consoleLog;
  const pilotsDir = join(options.stateDir, 'pilots');
  const logsDir = join(options.stateDir, 'logs');
  mkdirSync(pilotsDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  const children: Child[] = [];
  let next = highestNumber(pilotsDir) + 1;
  let stopped = false;
  let checking: Promise<number> | undefined;
  let lastDepthError = 0;
  const graceMs = (options.startupGraceSec ?? 10) * 1000;

  const command =
    options.command ??
    (({ workDir }): PilotCommand =>
      pilotCommandLine({
        apiUrl: options.apiUrl,
        siteId: options.siteId,
        idleExitSec: options.idleExitSec,
        workDir,
      }));

  const aliveChildren = (): Child[] => children.filter((c) => c.info.alive);

  function startPilot(): void {
    const n = next++;
    const workDir = join(pilotsDir, String(n));
    const logFile = join(logsDir, `pilot-${n}.log`);
    mkdirSync(workDir, { recursive: true });
    const { command: file, args } = command({ n, workDir, siteId: options.siteId });
    const fd = openSync(logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          ...options.env,
          GLUON_API_URL: options.apiUrl,
          // The token goes through the environment, never the command line (ps shows that).
          GLUON_PILOT_TOKEN: options.pilotToken,
          GLUON_SITE: options.siteId,
          // The local site's node is the developer's machine, busy with the stand-ins and tests:
          // its load average says nothing about whether a pilot can run a job there.
          GLUON_MAX_LOAD_PER_CORE: process.env.GLUON_MAX_LOAD_PER_CORE ?? '1000',
        },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const info: PilotProcess = {
      n,
      pid: child.pid,
      startedAt: new Date().toISOString(),
      workDir,
      logFile,
      alive: true,
      exitCode: null,
      signal: null,
    };
    const exited = new Promise<void>((resolveExit) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (!info.alive) return;
        info.alive = false;
        info.exitCode = code;
        info.signal = signal;
        info.endedAt = new Date().toISOString();
        const fields = { n, pid: info.pid, exitCode: code, signal, logFile };
        if (code === 0 || signal === 'SIGTERM') log('debug', 'pilot exited', fields);
        else log('warn', 'pilot exited with an error', fields);
        resolveExit();
      };
      child.once('exit', onEnd);
      child.once('error', (error) => {
        log('error', 'pilot could not start', { n, error, command: file });
        onEnd(null, null);
      });
    });
    children.push({ info, process: child, exited, startedMs: Date.now() });
    log('debug', 'pilot started', { n, pid: info.pid, logFile });
  }

  async function check(): Promise<number> {
    if (stopped) return 0;
    let depth: QueueDepth;
    try {
      depth = await options.queueDepth();
    } catch (error) {
      // The queue may not exist yet or the stand-in may be restarting: say so now and then.
      if (Date.now() - lastDepthError > 60_000)
        log('warn', 'pilot factory cannot read the queue depth', { error });
      lastDepthError = Date.now();
      return 0;
    }
    if (stopped) return 0;
    const alive = aliveChildren();
    const starting = alive.filter((c) => Date.now() - c.startedMs < graceMs).length;
    const wanted = Math.min(options.maxPilots - alive.length, depth.visible - starting);
    for (let i = 0; i < wanted; i++) startPilot();
    if (wanted > 0) {
      log('info', `pilot factory started ${wanted} pilot(s)`, {
        siteId: options.siteId,
        queued: depth.visible,
        alive: alive.length + wanted,
      });
    }
    return Math.max(0, wanted);
  }

  const runCheck = (): Promise<number> => {
    checking ??= check().finally(() => {
      checking = undefined;
    });
    return checking;
  };

  const timer = setInterval(() => void runCheck(), (options.checkEverySec ?? 1) * 1000);

  async function stopAll({
    signal = 'SIGTERM',
    timeoutMs = DEFAULT_STOP_TIMEOUT_MS,
  }: {
    signal?: NodeJS.Signals;
    timeoutMs?: number;
  } = {}): Promise<void> {
    const alive = aliveChildren();
    for (const child of alive) child.process.kill(signal);
    const allExited = Promise.all(alive.map((c) => c.exited));
    const timedOut = await Promise.race([allExited.then(() => false), delay(timeoutMs).then(() => true)]);
    if (!timedOut) return;
    const stubborn = aliveChildren();
    if (stubborn.length > 0) log('warn', `killing ${stubborn.length} pilot(s) that did not stop in time`);
    for (const child of stubborn) child.process.kill('SIGKILL');
    await Promise.race([Promise.all(stubborn.map((c) => c.exited)), delay(KILL_WAIT_MS)]);
  }

  return {
    list: () => children.map((c) => ({ ...c.info })),
    alive: () => aliveChildren().map((c) => ({ ...c.info })),
    check: runCheck,
    kill(pid, signal = 'SIGTERM') {
      const child = aliveChildren().find((c) => c.info.pid === pid);
      return child === undefined ? false : child.process.kill(signal);
    },
    stopAll,
    async stop(stopOptions) {
      stopped = true;
      clearInterval(timer);
      await checking?.catch(() => {});
      await stopAll(stopOptions);
    },
  };
}

/** `node pilot/main.ts run --api-url … --token … --site … --idle-exit-sec … --work-dir …` with this Node. */
export function pilotCommandLine(pilot: {
  apiUrl: string;
  siteId: string;
  idleExitSec: number;
  workDir: string;
}): PilotCommand {
  return {
    command: process.execPath,
    args: [
      PILOT_MAIN,
      'run',
      '--api-url',
      pilot.apiUrl,
      '--site',
      pilot.siteId,
      '--idle-exit-sec',
      String(pilot.idleExitSec),
      '--work-dir',
      pilot.workDir,
    ],
  };
}

/** The depth of a site queue from GetQueueAttributes. */
export function sqsQueueDepth(client: SQSClient, queueUrl: () => Promise<string>): () => Promise<QueueDepth> {
  return async () => {
    const out = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl: await queueUrl(),
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  };
}

/** The highest pilot number used under `pilots/` (so a restarted stack never reuses a work dir). */
function highestNumber(dir: string): number {
  let highest = 0;
  for (const name of readdirSync(dir)) {
    const n = Number(name);
    if (Number.isInteger(n) && n > highest) highest = n;
  }
  return highest;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
