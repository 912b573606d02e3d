/**
 * How long the pilot may live: `--walltime-sec`, else what its batch job has left. For Slurm that
 * is `SLURM_JOB_END_TIME` when the environment has it, else one `squeue -h -j $SLURM_JOB_ID -o %L`
 * at start-up (the only tool the pilot ever runs for itself). A configured lifetime is capped by the
 * batch job's end when that is known from the environment.
 */
import { execFile } from 'node:child_process';

export const DEFAULT_WALLTIME_SEC = 86_400;

export type WalltimeSource = 'configured' | 'slurm-env' | 'squeue' | 'default';

export interface Walltime {
  walltimeSec: number;
  source: WalltimeSource;
  /** Set when the configured lifetime was cut to the batch job's end. */
  cappedFromSec?: number;
}

/** Slurm's time format of `%L` / `--time`: `[days-]hours:minutes:seconds`, `minutes:seconds`, `minutes`. */
export function parseSlurmDuration(text: string): number | undefined {
  const value = text.trim();
  const match = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(value);
  if (match === null) return undefined;
  const [, days, a, b, c] = match;
  const n = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
  let sec: number;
  if (days !== undefined) {
    // days-hours[:minutes[:seconds]]
    sec = n(days) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c);
  } else if (c !== undefined) {
    sec = n(a) * 3600 + n(b) * 60 + n(c);
  } else if (b !== undefined) {
    sec = n(a) * 60 + n(b);
  } else {
    sec = n(a) * 60;
  }
  return Number.isFinite(sec) ? sec : undefined;
}

/** Seconds left of a Slurm job according to its environment (`SLURM_JOB_END_TIME`, epoch seconds). */
export function slurmSecondsLeft(env: NodeJS.ProcessEnv, nowMs: number): number | undefined {
  const end = Number(env.SLURM_JOB_END_TIME);
  if (
    env.SLURM_JOB_END_TIME === undefined ||
    env.SLURM_JOB_END_TIME === '' ||
    !Number.isFinite(end) ||
    end <= 0
  )
    return undefined;
  return Math.max(0, Math.floor(end - nowMs / 1000));
}

export type RunSqueue = (jobId: string) => Promise<string>;

/** `squeue -h -j <id> -o %L`, with a 10 s timeout. */
export const runSqueue: RunSqueue = (jobId) =>
  new Promise((resolve, reject) => {
    execFile('squeue', ['-h', '-j', jobId, '-o', '%L'], { timeout: 10_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout);
    });
  });

export async function resolveWalltime(options: {
  configuredSec?: number;
  env: NodeJS.ProcessEnv;
  nowMs: number;
  squeue?: RunSqueue;
}): Promise<Walltime> {
  const fromEnv = slurmSecondsLeft(options.env, options.nowMs);
  if (options.configuredSec !== undefined) {
    if (fromEnv !== undefined && fromEnv < options.configuredSec) {
      return { walltimeSec: fromEnv, source: 'slurm-env', cappedFromSec: options.configuredSec };
    }
    return { walltimeSec: options.configuredSec, source: 'configured' };
  }
  if (fromEnv !== undefined) return { walltimeSec: fromEnv, source: 'slurm-env' };
  const jobId = options.env.SLURM_JOB_ID;
  if (jobId !== undefined && /^\d+(_\d+)?$/.test(jobId)) {
    try {
      const left = parseSlurmDuration(await (options.squeue ?? runSqueue)(jobId));
      if (left !== undefined) return { walltimeSec: left, source: 'squeue' };
    } catch {
      // no squeue here, or it failed: fall back to the default
    }
  }
  return { walltimeSec: DEFAULT_WALLTIME_SEC, source: 'default' };
}
