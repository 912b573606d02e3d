/**
 * Runs one payload as its own process group, with walltime and memory limits, captured output and
 * measured usage. The heart of the pilot: whatever the payload does (forks, floods, hangs, leaks),
 * it ends, it is measured, and nothing of it is left running afterwards.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, open, readFile, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Usage } from '#core/jobs/job.ts';
import { PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';
import { sleep } from '#platform/sleep.ts';
import { CappedLog } from './capped-log.ts';
import { LoopingDetector, newestMtimeMs } from './looping-detector.ts';
import { abortCode, classifyPayloadEnd, type PayloadExit, type StopReason } from './payload-end.ts';
import {
  leftoverProcesses,
  liveGroupMembers,
  payloadProcesses,
  processesSince,
  processesWithEnv,
  rssKB,
  signalGroup,
  signalProcess,
} from './process-tree.ts';

/** Set in every payload's environment with a value unique to the run, to find processes that escaped its group. */
export const PAYLOAD_MARKER_VAR = 'GLUON_PAYLOAD_ID';

const DEFAULT_KILL_GRACE_MS = 5000;
const DEFAULT_POLL_MS = 1000;
/** How long to wait for the output pipes to close after the payload ended (an escaped process may hold them). */
const PIPE_DRAIN_MS = 2000;
/** How long to wait for SIGKILLed leftovers to be gone from /proc. */
const KILL_CONFIRM_MS = 2000;
const ERROR_MESSAGE_MAX = 4000;
const LOG_TAIL_LINES = 20;

/**
 * The wrapper between the pilot and the payload: runs the command, writes the shell's `times`
 * (its own and its waited-for children's user and system CPU time) to a side file, and exits with
 * the payload's status (128+N when the payload was killed by signal N).
 */
const WRAPPER_SCRIPT = 'f=$1; shift; "$@"; rc=$?; times > "$f" 2>/dev/null; exit $rc';

export interface RunPayloadOptions {
  command: string;
  args: string[];
  /** The payload's own variables (GLUON_* from resolvePayload and the spec's env). */
  env: Record<string, string>;
  /** The job's work directory (created by the caller); the payload's cwd and TMPDIR. */
  workDir: string;
  walltimeSec: number;
  /** Limit on the summed RSS of the payload's processes; no limit when undefined. */
  memoryMB?: number;
  /** stdout and stderr of the payload are appended here, up to logCapBytes. */
  logFile: string;
  logCapBytes: number;
  /** Past the cap: kill the payload (OUTPUT_TOO_LARGE, the default) or drop the rest of its output. */
  logCapAction?: 'kill' | 'truncate';
  /**
   * Kill the payload (LOOPING) when it wrote no output and no file in its work directory for this
   * long; no looping detection when undefined.
   */
  loopingSec?: number;
  /** Time between SIGTERM and SIGKILL when the pilot ends a payload. */
  killGraceMs?: number;
  /** Interval of the /proc polls for memory and usage. */
  pollMs?: number;
  /** Called once the payload process exists. */
  onSpawn?: (pid: number) => void;
  /**
   * Aborting ends the payload (TERM, grace, KILL). When the abort reason is a pilot error code,
   * the result carries it; otherwise EVICTED.
   */
  signal?: AbortSignal;
  /** The environment the payload's is built on; defaults to PATH, HOME, LANG and USER of the pilot. */
  baseEnv?: Record<string, string>;
}

export type { StopReason } from './payload-end.ts';

export interface PayloadResult {
  exitCode?: number;
  signal?: string;
  pilotErrorCode: PilotErrorCode;
  /** A one-line summary and the last lines of the log, on failure. */
  errorMessage?: string;
  usage: Usage;
  /** Set when the pilot ended the payload, and why. */
  stoppedBy?: StopReason;
}

/** The minimal environment every payload starts from. */
export function defaultBaseEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {
    PATH: source.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: source.LANG ?? 'C.UTF-8',
  };
  if (source.HOME !== undefined) env.HOME = source.HOME;
  if (source.USER !== undefined) env.USER = source.USER;
  return env;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * A bare command name is looked up in PATH (by the shell); when PATH has no such program but the
 * work directory has one (a sandbox file), that one is run.
 */
async function resolveCommand(command: string, workDir: string, path: string): Promise<string> {
  if (command.includes('/')) return command;
  for (const dir of path.split(delimiter)) {
    if (dir !== '' && (await isExecutableFile(join(dir, command)))) return command;
  }
  if (await isExecutableFile(join(workDir, command))) return `./${command}`;
  return command;
}

/** Sums the `NmS.SSs` figures of the shell's `times` output (its own and its children's user+sys). */
export function parseTimesOutput(text: string): number | undefined {
  let total = 0;
  let count = 0;
  for (const match of text.matchAll(/(\d+)m([\d.]+)s/g)) {
    total += Number(match[1]) * 60 + Number(match[2]);
    count++;
  }
  return count > 0 && Number.isFinite(total) ? total : undefined;
}

/** The last lines of a log file (reads at most its last 16 KiB). */
export async function logTail(path: string, lines = LOG_TAIL_LINES): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      const all = buffer.toString('utf8').replace(/\n$/, '').split('\n');
      return all.slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

function waitForClose(stream: Readable, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed || stream.destroyed) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      stream.destroy();
      resolve();
    }, ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    stream.once('close', done);
    stream.once('error', done);
  });
}

export async function runPayload(options: RunPayloadOptions): Promise<PayloadResult> {
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const zeroUsage: Usage = { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 };

  if (options.signal?.aborted) {
    return {
      pilotErrorCode: abortCode(options.signal.reason),
      errorMessage: 'the payload was not started: the pilot was asked to stop',
      usage: zeroUsage,
      stoppedBy: 'abort',
    };
  }
  try {
    if (!(await stat(options.workDir)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    return {
      pilotErrorCode: PILOT_ERROR_CODES.WORKDIR_FAILED,
      errorMessage: `work directory ${options.workDir} is not usable: ${(error as Error).message}`,
      usage: zeroUsage,
    };
  }

  let stoppedBy: StopReason | undefined;
  const marker = randomUUID();
  const env: Record<string, string> = {
    ...(options.baseEnv ?? defaultBaseEnv()),
    TMPDIR: options.workDir,
    ...options.env,
    [PAYLOAD_MARKER_VAR]: marker,
  };
  const command = await resolveCommand(options.command, options.workDir, env.PATH ?? '');
  const timesFile = `${options.logFile}.times`;
  await rm(timesFile, { force: true });
  const killOnCap = (options.logCapAction ?? 'kill') === 'kill';
  const log = new CappedLog(options.logFile, options.logCapBytes, {
    ...(killOnCap ? { onFull: () => stop('output'), markerText: 'the payload is killed' } : {}),
  });
  const looping =
    options.loopingSec === undefined
      ? undefined
      : new LoopingDetector({
          loopingSec: options.loopingSec,
          initialMtimeMs: await newestMtimeMs(options.workDir),
        });

  const started = process.hrtime.bigint();
  const child = spawn(
    '/bin/sh',
    ['-c', WRAPPER_SCRIPT, 'gluon-payload', timesFile, command, ...options.args],
    {
      cwd: options.workDir,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (chunk: Buffer) => log.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => log.write(chunk));

  const exited = new Promise<PayloadExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  const pid = child.pid;

  let memoryAtStopKB = 0;
  let killTimer: NodeJS.Timeout | undefined;
  let peakRssKB = 0;
  const cpuByPid = new Map<number, number>();

  const killEscaped = async (signal: NodeJS.Signals): Promise<void> => {
    for (const escaped of await processesWithEnv(PAYLOAD_MARKER_VAR, marker)) signalProcess(escaped, signal);
  };
  function stop(reason: StopReason): void {
    if (stoppedBy !== undefined || pid === undefined) return;
    stoppedBy = reason;
    signalGroup(pid, 'SIGTERM');
    killEscaped('SIGTERM').catch(() => {});
    killTimer = setTimeout(() => {
      signalGroup(pid, 'SIGKILL');
      killEscaped('SIGKILL').catch(() => {});
    }, killGraceMs);
  }

  const pollOnce = async (rootPid: number): Promise<void> => {
    const processes = payloadProcesses(await processesSince(rootPid), rootPid);
    let rss = 0;
    for (const p of processes) {
      rss += await rssKB(p.pid);
      cpuByPid.set(p.pid, Math.max(cpuByPid.get(p.pid) ?? 0, p.cpuSec));
    }
    peakRssKB = Math.max(peakRssKB, rss);
    if (options.memoryMB !== undefined && rss > options.memoryMB * 1024 && stoppedBy === undefined) {
      memoryAtStopKB = rss;
      stop('memory');
    }
  };

  const pollStop = new AbortController();
  let walltimeTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => stop('abort');
  let polling: Promise<void> = Promise.resolve();

  if (pid !== undefined) {
    walltimeTimer = setTimeout(() => stop('walltime'), options.walltimeSec * 1000);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const processPolls = (async () => {
      let delay = Math.min(pollMs, 50);
      while (!pollStop.signal.aborted) {
        await sleep(delay, pollStop.signal);
        if (pollStop.signal.aborted) break;
        await pollOnce(pid).catch(() => {});
        delay = pollMs;
      }
    })();
    const loopingChecks = (async () => {
      if (looping === undefined || options.loopingSec === undefined) return;
      const every = Math.min(60_000, Math.max(250, (options.loopingSec * 1000) / 4));
      while (!pollStop.signal.aborted) {
        await sleep(every, pollStop.signal);
        if (pollStop.signal.aborted || stoppedBy !== undefined) break;
        const newest = await newestMtimeMs(options.workDir).catch(() => 0);
        if (looping.observe(log.bytesSeen, newest)) stop('looping');
      }
    })();
    polling = Promise.all([processPolls, loopingChecks]).then(() => {});
    try {
      options.onSpawn?.(pid);
    } catch {
      // a failing observer must not take the payload down
    }
  }

  const outcome = await exited;
  const wallTimeSec = Number(process.hrtime.bigint() - started) / 1e9;
  clearTimeout(walltimeTimer);
  options.signal?.removeEventListener('abort', onAbort);
  pollStop.abort();
  await polling;

  if (pid !== undefined) {
    if (stoppedBy !== undefined) {
      // Give what is left of the group the rest of its grace to end on the SIGTERM already sent.
      const deadline = Date.now() + killGraceMs;
      while (Date.now() < deadline && (await liveGroupMembers(pid)).length > 0) await sleep(50);
    }
    clearTimeout(killTimer);
    // Whatever is left (background children, escapees from the group) is killed, and we wait
    // (briefly) until the kernel has actually ended it, so that callers never see it alive.
    const deadline = Date.now() + KILL_CONFIRM_MS;
    for (;;) {
      signalGroup(pid, 'SIGKILL');
      const left = await leftoverProcesses(pid, { name: PAYLOAD_MARKER_VAR, value: marker }).catch(() => ({
        group: [],
        escaped: [],
      }));
      for (const p of left.escaped) signalProcess(p, 'SIGKILL');
      if (left.group.length + left.escaped.length === 0 || Date.now() > deadline) break;
      await sleep(20);
    }
  }
  await Promise.all([waitForClose(child.stdout, PIPE_DRAIN_MS), waitForClose(child.stderr, PIPE_DRAIN_MS)]);
  await log.close().catch(() => {});

  let timesCpuSec: number | undefined;
  try {
    timesCpuSec = parseTimesOutput(await readFile(timesFile, 'utf8'));
  } catch {
    timesCpuSec = undefined; // the wrapper was killed before it could write them
  }
  await rm(timesFile, { force: true });
  let polledCpuSec = 0;
  for (const cpu of cpuByPid.values()) polledCpuSec += cpu;
  const usage: Usage = {
    wallTimeSec: Math.round(wallTimeSec * 1000) / 1000,
    cpuTimeSec: Math.round(Math.max(timesCpuSec ?? 0, polledCpuSec) * 1000) / 1000,
    maxRssKB: Math.round(peakRssKB),
  };

  const end = classifyPayloadEnd(outcome, stoppedBy, {
    command: options.command,
    walltimeSec: options.walltimeSec,
    logCapBytes: options.logCapBytes,
    memoryAtStopKB,
    abortReason: options.signal?.reason,
    ...(options.memoryMB === undefined ? {} : { memoryMB: options.memoryMB }),
    ...(options.loopingSec === undefined ? {} : { loopingSec: options.loopingSec }),
  });
  const result: PayloadResult = { ...end, usage };
  if (result.pilotErrorCode !== PILOT_ERROR_CODES.OK) {
    const tail = await logTail(options.logFile);
    const summary = result.errorMessage ?? 'the payload failed';
    const room = ERROR_MESSAGE_MAX - summary.length - 40;
    const clipped = tail.length > room ? tail.slice(tail.length - Math.max(0, room)) : tail;
    result.errorMessage =
      clipped === '' ? summary : `${summary}\n--- last lines of the payload log ---\n${clipped}`;
  }
  return result;
}
