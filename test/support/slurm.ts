/**
 * A private single-node Slurm for e2e tests (see shared/notes/slurm-local.md): installs slurm-wlm
 * and munge with apt when absent (root), starts a private munged (own key and socket), writes a
 * private slurm.conf under /tmp/gluon-slurm-e2e/<run>/ (free ports, state, spool, pids and logs there),
 * starts slurmctld and slurmd, and waits for the node to be idle. stop() cancels the jobs, stops the
 * daemons by their pid files and kills what is left of the jobs. Leftovers of a crashed run (found
 * through the pid files under /tmp/gluon-slurm-e2e) are killed at the next start.
 *
 * Every command runs asynchronously: the test process also hosts the local stack's stand-ins.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, hostname, totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import { type CommandResult, runCommand } from '#pilot/factory/run-command.ts';

/** Apart from ../shared/tools/slurm-peer.sh's /tmp/gluon-slurm (which it hands to the slurm user). */
export const SLURM_BASE_DIR = '/tmp/gluon-slurm-e2e';
export const SLURM_PARTITION = 'gluon';
const DAEMONS = ['slurmd', 'slurmctld', 'munged'] as const;
type Daemon = (typeof DAEMONS)[number];

export interface Slurm {
  /** SLURM_CONF for the client commands (sbatch, squeue, …) and for the factory. */
  env: { SLURM_CONF: string };
  /** The run's private directory (slurm.conf, logs under log/). */
  dir: string;
  nodeName: string;
  /** Runs a Slurm client command against this cluster; rejects on a non-zero exit. */
  run(command: string, args: string[]): Promise<string>;
  /** Cancels every job, stops the daemons, kills what is left; safe to call more than once. */
  stop(): Promise<void>;
}

export interface StartSlurmOptions {
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Slurm's grace between SIGTERM and SIGKILL of a cancelled job (default 15 s). */
  killWaitSec?: number;
}

/** This process's environment, with the sbin directories (the daemons live there) on PATH. */
function baseEnv(): NodeJS.ProcessEnv {
  const path = process.env.PATH ?? '/usr/bin:/bin';
  const missing = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter((d) => !path.split(':').includes(d));
  return { ...process.env, PATH: [path, ...missing].join(':') };
}

async function sh(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  return runCommand(command, args, { env: env ?? baseEnv(), timeoutMs: 600_000 });
}

async function ok(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await sh(command, args, env);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim().slice(-2000)}`,
    );
  }
  return result.stdout;
}

async function installed(): Promise<boolean> {
  const result = await sh('sh', [
    '-c',
    'command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged',
  ]);
  return result.code === 0;
}

/** apt-get install of slurm-wlm and munge, unless sbatch is there already. Needs root. */
export async function ensureSlurmInstalled(log: (line: string) => void = () => undefined): Promise<void> {
  if (await installed()) return;
  if (userInfo().uid !== 0) {
    throw new Error('Slurm is not installed and this is not root: apt-get install -y slurm-wlm munge');
  }
  log('installing slurm-wlm and munge with apt-get (once per machine)');
  const env = { ...baseEnv(), DEBIAN_FRONTEND: 'noninteractive' };
  await ok('apt-get', ['update', '-qq'], env);
  await ok('apt-get', ['install', '-y', '-qq', 'slurm-wlm', 'munge'], env);
  if (!(await installed()))
    throw new Error('apt-get installed slurm-wlm and munge, but sbatch/slurmd/munged are missing');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and its command line names `daemon` (guards against a reused pid). */
async function isDaemon(pid: number, daemon: Daemon): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.split('\0').some((arg) => arg.endsWith(daemon));
  } catch {
    return false;
  }
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGTERM, then SIGKILL after `graceMs` if still alive. */
async function terminate(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitUntil(async () => !(await alive(pid)), graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
  await waitUntil(async () => !(await alive(pid)), 2_000);
}

/** Pids of processes whose environment holds `SLURM_CONF=<conf>` (daemons, slurmstepd, jobs). */
async function processesOf(conf: string): Promise<number[]> {
  const marker = Buffer.from(`SLURM_CONF=${conf}\0`);
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = await readFile(`/proc/${pid}/environ`);
      if (environ.includes(marker)) pids.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Kills the daemons (by pid file) and the job processes of one run directory, then removes it. */
async function killRun(dir: string): Promise<void> {
  for (const daemon of DAEMONS) {
    const pid = await readPid(join(dir, `${daemon}.pid`));
    if (pid !== undefined && (await isDaemon(pid, daemon))) await terminate(pid, 5_000);
  }
  for (const pid of await processesOf(join(dir, 'slurm.conf'))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await rm(dir, { recursive: true, force: true });
}

/** Kills what crashed runs left behind (found through the pid files under SLURM_BASE_DIR). */
export async function cleanLeftoverSlurm(log: (line: string) => void = () => undefined): Promise<void> {
  let runs: string[];
  try {
    runs = await readdir(SLURM_BASE_DIR);
  } catch {
    return;
  }
  for (const run of runs) {
    const dir = join(SLURM_BASE_DIR, run);
    const owner = Number(/^run-(\d+)-/.exec(run)?.[1]);
    if (owner !== process.pid && Number.isInteger(owner) && (await alive(owner))) continue; // another live run
    log(`cleaning up the Slurm run ${dir}`);
    await killRun(dir);
  }
}

function slurmConf(o: {
  dir: string;
  nodeName: string;
  ctldPort: number;
  slurmdPort: number;
  killWaitSec: number;
}): string {
  const cpus = availableParallelism();
  const realMemoryMB = Math.max(512, Math.floor(totalmem() / 2 ** 20) - 1024);
  return `${[
    `# Private test cluster of ${o.dir}, written by test/support/slurm.ts`,
    'ClusterName=gluontest',
    `SlurmctldHost=${o.nodeName}(127.0.0.1)`,
    `SlurmctldPort=${o.ctldPort}`,
    `SlurmdPort=${o.slurmdPort}`,
    `SlurmUser=${userInfo().username}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${join(o.dir, 'munge', 'munge.socket.2')}`,
    `StateSaveLocation=${join(o.dir, 'state')}`,
    `SlurmdSpoolDir=${join(o.dir, 'spool')}`,
    `SlurmctldPidFile=${join(o.dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${join(o.dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${join(o.dir, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${join(o.dir, 'log', 'slurmd.log')}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'MpiDefault=none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core_Memory',
    'SchedulerParameters=batch_sched_delay=0',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${join(o.dir, 'log', 'jobcomp.txt')}`,
    'JobAcctGatherType=jobacct_gather/linux',
    'JobAcctGatherParams=OverMemoryKill',
    'ReturnToService=2',
    `KillWait=${o.killWaitSec}`,
    'InactiveLimit=0',
    `NodeName=${o.nodeName} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${realMemoryMB} State=UNKNOWN`,
    `PartitionName=${SLURM_PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8`,
  ].join('\n')}\n`;
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-15).join('\n');
  } catch {
    return '(none)';
  }
}

export async function startSlurm(options: StartSlurmOptions = {}): Promise<Slurm> {
  const log = options.log ?? (() => undefined);
  await ensureSlurmInstalled(log);
  await cleanLeftoverSlurm(log);
  await mkdir(SLURM_BASE_DIR, { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(SLURM_BASE_DIR, `run-${process.pid}-`));
  await chmod(dir, 0o755); // munged wants its socket's directories searchable by all
  const conf = join(dir, 'slurm.conf');
  const env = { ...baseEnv(), SLURM_CONF: conf };
  const nodeName = hostname().split('.')[0] as string;

  let stopping: Promise<void> | undefined;
  const onExit = (): void => {
    // Last resort when the test process ends without stop(): the next start cleans up the rest.
    for (const daemon of DAEMONS) {
      try {
        const pid = Number(readFileSync(join(dir, `${daemon}.pid`), 'utf8').trim());
        if (pid > 1) process.kill(pid, 'SIGKILL');
      } catch {
        // nothing to do
      }
    }
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', onExit);
      if ((await sh('scancel', [`--partition=${SLURM_PARTITION}`], env)).code === 0) {
        await waitUntil(
          async () => {
            const r = await sh('squeue', ['--noheader', '--format=%i'], env);
            return r.code !== 0 || r.stdout.trim() === '';
          },
          (options.killWaitSec ?? 15) * 1000 + 5_000,
        );
      }
      await killRun(dir);
    })();
    return stopping;
  };
  process.once('exit', onExit);

  try {
    await mkdir(join(dir, 'munge'), { mode: 0o755 });
    await mkdir(join(dir, 'munge-key'), { mode: 0o700 });
    for (const sub of ['state', 'spool', 'log']) await mkdir(join(dir, sub), { mode: 0o755 });
    const key = join(dir, 'munge-key', 'munge.key');
    await writeFile(key, randomBytes(1024), { mode: 0o400 });
    await ok(
      'munged',
      [
        `--socket=${join(dir, 'munge', 'munge.socket.2')}`,
        `--key-file=${key}`,
        `--log-file=${join(dir, 'log', 'munged.log')}`,
        `--pid-file=${join(dir, 'munged.pid')}`,
        `--seed-file=${join(dir, 'munge-key', 'munged.seed')}`,
      ],
      env,
    );

    const ctldPort = await freePort();
    let slurmdPort = await freePort();
    while (slurmdPort === ctldPort) slurmdPort = await freePort();
    await writeFile(
      conf,
      slurmConf({ dir, nodeName, ctldPort, slurmdPort, killWaitSec: options.killWaitSec ?? 15 }),
    );
    await ok('slurmctld', ['-f', conf], env);
    await ok('slurmd', ['-f', conf], env);
    const idle = await waitUntil(async () => {
      const r = await sh('sinfo', ['--noheader', '--format=%t'], env);
      return r.code === 0 && r.stdout.trim() === 'idle';
    }, 60_000);
    if (!idle) {
      throw new Error(
        `the Slurm node did not become idle within 60 s\nslurmctld.log:\n${await tail(join(dir, 'log', 'slurmctld.log'))}` +
          `\nslurmd.log:\n${await tail(join(dir, 'log', 'slurmd.log'))}`,
      );
    }
    log(`Slurm is up: SLURM_CONF=${conf}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    env: { SLURM_CONF: conf },
    dir,
    nodeName,
    run: (command, args) => ok(command, args, env),
    stop,
  };
}
