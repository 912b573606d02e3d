/**
 * Reading and ending a payload's processes through /proc (Linux). Used by the payload runner for
 * memory limits, peak RSS, the CPU-time fallback and making sure nothing of a payload survives it.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_SEC = 100;

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** One-letter state from /proc (R, S, D, Z for a zombie, …). */
  state: string;
  /** User + system CPU time of the process itself, in seconds. */
  cpuSec: number;
}

/** Parses one /proc/<pid>/stat line; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcessInfo | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Fields after the command: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime …
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = rest[0] ?? '?';
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (![pid, ppid, pgid, utime, stime].every(Number.isFinite)) return undefined;
  return { pid, ppid, pgid, state, cpuSec: (utime + stime) / CLOCK_TICKS_PER_SEC };
}

async function numericEntries(): Promise<number[]> {
  const names = await readdir('/proc');
  const pids: number[] = [];
  for (const name of names) {
    if (/^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids;
}

/** Every process visible in /proc (processes that vanish while reading are skipped). */
export async function listProcesses(): Promise<ProcessInfo[]> {
  return readProcesses(await numericEntries());
}

/** The last pid the kernel handed out, or undefined where it cannot be read. */
async function lastPid(): Promise<number | undefined> {
  try {
    const value = Number((await readFile('/proc/sys/kernel/ns_last_pid', 'utf8')).trim());
    return Number.isSafeInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The processes created since `rootPid` was: those with a pid from it on. Pids grow until they
 * wrap around at pid_max; when they have (the last pid handed out is below the root's), every
 * process is read. A payload's processes are all younger than its root, so this finds them all
 * while reading a handful of /proc entries instead of every process of the node, for each job.
 */
export async function processesSince(rootPid: number): Promise<ProcessInfo[]> {
  const pids = await numericEntries();
  const last = await lastPid();
  const wrapped = last === undefined || last < rootPid;
  return readProcesses(wrapped ? pids : pids.filter((pid) => pid >= rootPid));
}

/**
 * What is left of a payload once its root process ended: live members of its process group, and
 * processes that escaped it (setsid, nohup) found by the marker in their environment.
 */
export async function leftoverProcesses(
  rootPid: number,
  marker: { name: string; value: string },
): Promise<{ group: ProcessInfo[]; escaped: number[] }> {
  const young = await processesSince(rootPid);
  const group = young.filter((p) => p.pgid === rootPid && p.state !== 'Z');
  const others = young.filter((p) => p.pgid !== rootPid && p.state !== 'Z' && p.pid !== process.pid);
  const needle = Buffer.from(`\0${marker.name}=${marker.value}\0`);
  const escaped = await Promise.all(
    others.map(async (p) => {
      try {
        const environ = await readFile(`/proc/${p.pid}/environ`);
        return Buffer.concat([Buffer.from([0]), environ, Buffer.from([0])]).indexOf(needle) >= 0
          ? p.pid
          : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return { group, escaped: escaped.filter((pid): pid is number => pid !== undefined) };
}

async function readProcesses(pids: number[]): Promise<ProcessInfo[]> {
  const infos = await Promise.all(
    pids.map(async (pid) => {
      try {
        return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return undefined;
      }
    }),
  );
  return infos.filter((info): info is ProcessInfo => info !== undefined);
}

/**
 * The processes of a payload: everything in its process group plus every descendant of its root
 * (descendants that moved to their own group with setsid are still found through their parents).
 */
export function payloadProcesses(all: ProcessInfo[], rootPid: number): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const p of all) {
    const list = children.get(p.ppid);
    if (list === undefined) children.set(p.ppid, [p]);
    else list.push(p);
  }
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const found = new Map<number, ProcessInfo>();
  for (const p of all) if (p.pgid === rootPid) found.set(p.pid, p);
  const root = byPid.get(rootPid);
  if (root !== undefined) found.set(rootPid, root);
  const stack = [...found.keys()];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    for (const child of children.get(pid) ?? []) {
      if (!found.has(child.pid)) {
        found.set(child.pid, child);
        stack.push(child.pid);
      }
    }
  }
  return [...found.values()];
}

/** Resident set size of one process in KB (0 when it is gone or a zombie). */
export async function rssKB(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Pids of processes whose environment holds `name=value` (only our own processes are readable). */
export async function processesWithEnv(name: string, value: string): Promise<number[]> {
  // Entries are NUL-separated; a leading NUL makes the first entry match like the others.
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const pids = await numericEntries();
  const hits = await Promise.all(
    pids.map(async (pid) => {
      if (pid === process.pid) return undefined;
      try {
        const environ = await readFile(`/proc/${pid}/environ`);
        const padded = Buffer.concat([Buffer.from([0]), environ, Buffer.from([0])]);
        return padded.indexOf(needle) >= 0 ? pid : undefined;
      } catch {
        return undefined; // gone, or not ours
      }
    }),
  );
  return hits.filter((pid): pid is number => pid !== undefined);
}

/**
 * Sends a signal to a whole process group; false when the group no longer exists. Never throws:
 * it runs from timers, and a group the pilot may not signal (EPERM) is reported as not signalled.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Sends a signal to one process, ignoring a process that is gone or not ours. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone; EPERM: not ours
  }
}

/** Live (non-zombie) processes of a process group. */
export async function liveGroupMembers(pgid: number): Promise<ProcessInfo[]> {
  // A payload's group is led by its root: every member is at least as young.
  return (await processesSince(pgid)).filter((p) => p.pgid === pgid && p.state !== 'Z');
}

/**
 * CPU seconds of a process and of its children it has waited for (utime + stime + cutime +
 * cstime), from /proc/<pid>/stat; undefined where /proc cannot be read. The pilot reports its own
 * at exit (payloads included), so overhead can be told apart from waiting.
 */
export async function cpuWithChildrenSec(pid: number | 'self' = 'self'): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = text
      .slice(text.lastIndexOf(')') + 1)
      .trim()
      .split(/\s+/);
    const ticks = [rest[11], rest[12], rest[13], rest[14]].map(Number);
    if (!ticks.every(Number.isFinite)) return undefined;
    return ticks.reduce((a, b) => a + b, 0) / CLOCK_TICKS_PER_SEC;
  } catch {
    return undefined;
  }
}
