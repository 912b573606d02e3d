/**
 * What the fake runs for an instance or a Batch job: one detached process (its own process group,
 * so a Spot reclaim or a terminate ends everything it started), output to a log file.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface BootCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface BootedProcess {
  pid: number | undefined;
  /** Resolves when the process has exited (or could not start). */
  exited: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>;
}

export function startBootProcess(
  boot: BootCommand,
  env: Record<string, string>,
  logFile: string,
): BootedProcess {
  const out = openSync(logFile, 'a');
  try {
    const child = spawn(boot.command, boot.args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, ...boot.env, ...env },
    });
    const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', () => resolve({ exitCode: 127, signal: null }));
      child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
    });
    return { pid: child.pid, exited };
  } finally {
    closeSync(out);
  }
}

/** Sends a signal to a process group; false when it is gone already. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
