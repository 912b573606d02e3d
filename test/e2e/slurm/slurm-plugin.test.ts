/** The Slurm batch plugin against a real (private, single-node) Slurm. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_ID_PLACEHOLDER, type PilotJobSpec } from '#pilot/factory/batch-plugin.ts';
import { SlurmPlugin } from '#pilot/factory/slurm-plugin.ts';
import { waitFor } from '#test/support/e2e.ts';
import { type Slurm, startSlurm } from '#test/support/slurm.ts';

let slurm: Slurm | undefined;
let plugin: SlurmPlugin;
let logDir: string;

beforeAll(async () => {
  slurm = await startSlurm({ killWaitSec: 5 });
  plugin = new SlurmPlugin({ env: { ...process.env, ...slurm.env } });
  logDir = mkdtempSync(join(tmpdir(), 'gluon-slurm-plugin-'));
}, 900_000);

afterAll(async () => {
  await slurm?.stop();
}, 60_000);

function spec(jobName: string, script: string): PilotJobSpec {
  return {
    jobName,
    // `sh -c SCRIPT BATCH_ID`: the script sees the job's batch id as $0.
    command: ['/bin/sh', '-c', script, BATCH_ID_PLACEHOLDER],
    env: { GLUON_PILOT_TOKEN: 'secret-token-value', GLUON_EXTRA: 'it has spaces, and a comma' },
    cores: 1,
    memoryMB: 200,
    walltimeSec: 120,
    logDir,
  };
}

describe('SlurmPlugin', () => {
  it('submits jobs that run the command with the batch id and the variables, lists and cancels them', async () => {
    const outcome = await plugin.submit(
      2,
      spec(
        'gluon-pilot-plugin',
        'echo "$0|$SLURM_JOB_ID|$GLUON_PILOT_TOKEN|$GLUON_EXTRA" > "out-$0.txt"; sleep 60',
      ),
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.ids).toHaveLength(2);
    const [first, second] = outcome.ids as [string, string];
    expect(Number(second)).toBeGreaterThan(Number(first));

    // Another job name of the same user is not ours.
    const other = await plugin.submit(1, spec('someone-else', 'sleep 60'));
    expect(other.ids).toHaveLength(1);

    const running = await waitFor(
      async () => {
        const jobs = await plugin.list('gluon-pilot-plugin');
        return jobs.length === 2 && jobs.every((j) => j.state === 'running') ? jobs : undefined;
      },
      { timeoutMs: 30_000, what: 'both jobs running' },
    );
    expect(running.map((j) => j.id).sort()).toEqual([...outcome.ids].sort());
    expect(running.every((j) => j.rawState === 'RUNNING')).toBe(true);

    const line = await waitFor(
      async () => {
        try {
          return readFileSync(join(logDir, `out-${first}.txt`), 'utf8').trim();
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 30_000, what: 'the job output' },
    );
    expect(line).toBe(`${first}|${first}|secret-token-value|it has spaces, and a comma`);
    // The token travels in the environment, never on a command line Slurm keeps.
    const shown = await slurm?.run('scontrol', ['show', 'job', first]);
    expect(shown).not.toContain('secret-token-value');

    await plugin.cancel(first);
    await waitFor(
      async () => {
        const jobs = await plugin.list('gluon-pilot-plugin');
        return !jobs.some((j) => j.id === first && j.state !== 'ended');
      },
      { timeoutMs: 30_000, what: 'the cancelled job to leave' },
    );
    expect((await plugin.list('gluon-pilot-plugin')).find((j) => j.id === second)?.state).toBe('running');
  });

  it('reports an sbatch refusal as an outcome error, with what was submitted before it', async () => {
    const outcome = await plugin.submit(2, {
      ...spec('gluon-pilot-plugin', 'true'),
      partition: 'no-such-partition',
    });
    expect(outcome.ids).toEqual([]);
    expect(outcome.error?.name).toBe('BatchSystemError');
    expect(outcome.error?.message).toMatch(/sbatch exited with 1: .*partition/i);
  });

  it('fails list() with a BatchSystemError when squeue cannot answer in time', async () => {
    const broken = new SlurmPlugin({
      env: { ...process.env, SLURM_CONF: join(logDir, 'missing-slurm.conf') },
      timeoutMs: 2_000,
    });
    await expect(broken.list('gluon-pilot-plugin')).rejects.toMatchObject({ name: 'BatchSystemError' });
  });
});
