/**
 * The `local` batch plugin: pilots are processes on this machine. It is what the local stack's
 * pilot factory drives (through GET /sites/{id}/demand, as any site's factory does), and what a
 * workstation or a single big node can use as a site of its own (`gluon-pilot factory --batch local`).
 * Each pilot gets a work directory `<workRoot>/<n>` and a log file `<logDir>/pilot-<n>.log`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Logger, silentLogger } from '#platform/logger.ts';
import {
  BATCH_ID_PLACEHOLDER,
  type BatchJob,
  type BatchPlugin,
  type PilotJobSpec,
  type SubmitOutcome,
} from './batch-plugin.ts';

export interface LocalPilotProcess {
  /** The batch id: the pilot's number on this machine. */
  id: string;
  jobName: string;
  pid: number | undefined;
  startedAt: string;
  workDir: string;
  logFile: string;
  alive: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  endedAt?: string;
}

export interface LocalPluginOptions {
  /** Parent of the pilots' work directories. */
  workRoot: string;
  /** Where each pilot's output goes (default: the spec's logDir). */
  logDir?: string;
  /** Working directory of the pilot processes. */
  cwd?: string;
  /** Variables on top of this process's environment (before the spec's). */
  env?: Record<string, string>;
  logger?: Logger;
}

const KILL_WAIT_MS = 3_000;

interface Child {
  info: LocalPilotProcess;
  process: ChildProcess;
  exited: Promise<void>;
}

export class LocalProcessPlugin implements BatchPlugin {
  readonly name = 'local';
  private readonly options: LocalPluginOptions;
  private readonly logger: Logger;
  private readonly children: Child[] = [];
  private next: number;

  constructor(options: LocalPluginOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    mkdirSync(options.workRoot, { recursive: true });
    // A restarted stack never reuses a work directory.
    this.next = highestNumber(options.workRoot) + 1;
  }

  async submit(count: number, spec: PilotJobSpec): Promise<SubmitOutcome> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(this.start(spec));
    return { ids };
  }

  async list(jobName: string): Promise<BatchJob[]> {
    return this.children
      .filter((c) => c.info.alive && c.info.jobName === jobName)
      .map((c) => ({ id: c.info.id, state: 'running', rawState: 'RUNNING' }));
  }

  async cancel(id: string): Promise<void> {
    this.children.find((c) => c.info.id === id && c.info.alive)?.process.kill('SIGTERM');
  }

  /** Every pilot started so far, alive or not. */
  processes(): LocalPilotProcess[] {
    return this.children.map((c) => ({ ...c.info }));
  }

  alive(): LocalPilotProcess[] {
    return this.children.filter((c) => c.info.alive).map((c) => ({ ...c.info }));
  }

  /** Sends a signal to one pilot (tests: kill a pilot mid-job). False if it is not ours or not alive. */
  kill(pid: number, signal: NodeJS.Signals = 'SIGTERM'): boolean {
    const child = this.children.find((c) => c.info.alive && c.info.pid === pid);
    return child === undefined ? false : child.process.kill(signal);
  }

  /** Signals every pilot (SIGTERM by default), then SIGKILL those still alive after `timeoutMs`. */
  async stopAll(options: { signal?: NodeJS.Signals; timeoutMs?: number } = {}): Promise<void> {
    const alive = this.children.filter((c) => c.info.alive);
    for (const child of alive) child.process.kill(options.signal ?? 'SIGTERM');
    const exited = Promise.all(alive.map((c) => c.exited)).then(() => false);
    if (!(await Promise.race([exited, delay(options.timeoutMs ?? 10_000).then(() => true)]))) return;
    const stubborn = this.children.filter((c) => c.info.alive);
    if (stubborn.length > 0)
      this.logger.warn(`killing ${stubborn.length} pilot(s) that did not stop in time`);
    for (const child of stubborn) child.process.kill('SIGKILL');
    await Promise.race([Promise.all(stubborn.map((c) => c.exited)), delay(KILL_WAIT_MS)]);
  }

  private start(spec: PilotJobSpec): string {
    const id = String(this.next++);
    const workDir = join(this.options.workRoot, id);
    const logDir = this.options.logDir ?? spec.logDir;
    const logFile = join(logDir, `pilot-${id}.log`);
    mkdirSync(workDir, { recursive: true });
    mkdirSync(logDir, { recursive: true });
    const [command, ...args] = spec.command.map((arg) => (arg === BATCH_ID_PLACEHOLDER ? id : arg));
    const fd = openSync(logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(command as string, [...args, '--work-dir', workDir], {
        ...(this.options.cwd === undefined ? {} : { cwd: this.options.cwd }),
        // The token and other secrets travel in the environment, never on the command line.
        env: { ...process.env, ...this.options.env, ...spec.env },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const info: LocalPilotProcess = {
      id,
      jobName: spec.jobName,
      pid: child.pid,
      startedAt: new Date().toISOString(),
      workDir,
      logFile,
      alive: true,
      exitCode: null,
      signal: null,
    };
    const exited = new Promise<void>((resolve) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (!info.alive) return;
        info.alive = false;
        info.exitCode = code;
        info.signal = signal;
        info.endedAt = new Date().toISOString();
        const fields = { id, pid: info.pid, exitCode: code, signal, logFile };
        if (code === 0 || signal === 'SIGTERM') this.logger.debug('pilot exited', fields);
        else this.logger.warn('pilot exited with an error', fields);
        resolve();
      };
      child.once('exit', onEnd);
      child.once('error', (error) => {
        this.logger.error('pilot could not start', { id, error, command });
        onEnd(null, null);
      });
    });
    this.children.push({ info, process: child, exited });
    this.logger.debug('pilot started', { id, pid: info.pid, logFile });
    return id;
  }
}

/** The highest pilot number used under `dir` (so a restarted stack never reuses a work dir). */
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
