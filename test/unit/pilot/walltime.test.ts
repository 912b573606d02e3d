import { describe, expect, it } from 'vitest';
import { parseSlurmDuration, resolveWalltime, slurmSecondsLeft } from '#pilot/walltime.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const nowSec = NOW / 1000;

describe('parseSlurmDuration', () => {
  it.each([
    ['1-02:03:04', 93_784],
    ['02:03:04', 7384],
    ['03:04', 184],
    ['45', 2700],
    ['2-12', 216_000],
    ['0:00', 0],
  ])('reads %s as %i s', (text, sec) => {
    expect(parseSlurmDuration(`${text}\n`)).toBe(sec);
  });

  it.each(['UNLIMITED', 'NOT_SET', 'INVALID', ''])('does not read %s', (text) => {
    expect(parseSlurmDuration(text)).toBeUndefined();
  });
});

describe('resolveWalltime', () => {
  const never = async (): Promise<string> => {
    throw new Error('squeue must not run');
  };

  it('takes the time left from SLURM_JOB_END_TIME', async () => {
    const env = { SLURM_JOB_ID: '42', SLURM_JOB_END_TIME: String(nowSec + 3600) };
    expect(slurmSecondsLeft(env, NOW)).toBe(3600);
    expect(await resolveWalltime({ env, nowMs: NOW, squeue: never })).toEqual({
      walltimeSec: 3600,
      source: 'slurm-env',
    });
  });

  it('caps a configured walltime at the Slurm job’s end, and keeps a shorter one', async () => {
    const env = { SLURM_JOB_END_TIME: String(nowSec + 3600) };
    expect(await resolveWalltime({ configuredSec: 86_400, env, nowMs: NOW, squeue: never })).toEqual({
      walltimeSec: 3600,
      source: 'slurm-env',
      cappedFromSec: 86_400,
    });
    expect(await resolveWalltime({ configuredSec: 600, env, nowMs: NOW, squeue: never })).toEqual({
      walltimeSec: 600,
      source: 'configured',
    });
  });

  it('asks squeue once when Slurm gives no end time in the environment', async () => {
    const asked: string[] = [];
    const squeue = async (jobId: string) => {
      asked.push(jobId);
      return '1:30:00\n';
    };
    expect(await resolveWalltime({ env: { SLURM_JOB_ID: '1234' }, nowMs: NOW, squeue })).toEqual({
      walltimeSec: 5400,
      source: 'squeue',
    });
    expect(asked).toEqual(['1234']);
  });

  it('does not run squeue when the walltime is configured or outside Slurm, and defaults to a day', async () => {
    expect(
      await resolveWalltime({ configuredSec: 100, env: { SLURM_JOB_ID: '1' }, nowMs: NOW, squeue: never }),
    ).toEqual({
      walltimeSec: 100,
      source: 'configured',
    });
    expect(await resolveWalltime({ env: {}, nowMs: NOW, squeue: never })).toEqual({
      walltimeSec: 86_400,
      source: 'default',
    });
  });

  it('falls back to the default when squeue fails or answers UNLIMITED', async () => {
    const env = { SLURM_JOB_ID: '9' };
    expect((await resolveWalltime({ env, nowMs: NOW, squeue: never })).source).toBe('default');
    expect((await resolveWalltime({ env, nowMs: NOW, squeue: async () => 'UNLIMITED' })).source).toBe(
      'default',
    );
  });

  it('gives 0 s left for a Slurm job already past its end', async () => {
    const env = { SLURM_JOB_END_TIME: String(nowSec - 10) };
    expect((await resolveWalltime({ env, nowMs: NOW })).walltimeSec).toBe(0);
  });
});
