import { describe, expect, it } from 'vitest';
import { BATCH_ID_PLACEHOLDER, type PilotJobSpec } from '#pilot/factory/batch-plugin.ts';
import type { CommandResult, RunCommandOptions } from '#pilot/factory/run-command.ts';
import { SlurmPlugin } from '#pilot/factory/slurm-plugin.ts';

interface Call {
  file: string;
  args: string[];
  options: RunCommandOptions | undefined;
}

/** A fake runner: answers each call with the next result, records the calls. */
function fakeRunner(results: Array<CommandResult | Error>) {
  const calls: Call[] = [];
  const run = async (file: string, args: string[], options?: RunCommandOptions): Promise<CommandResult> => {
    calls.push({ file, args, options });
    const next = results.shift();
    if (next === undefined) throw new Error(`unexpected call: ${file}`);
    if (next instanceof Error) throw next;
    return next;
  };
  return { calls, run };
}

const spec: PilotJobSpec = {
  jobName: 'gluon-pilot-x',
  command: ['/opt/gluon-pilot', 'run', '--batch-id', BATCH_ID_PLACEHOLDER],
  env: { GLUON_PILOT_TOKEN: 'the-token', AWS_REGION: 'eu-west-1' },
  cores: 1,
  memoryMB: 2000,
  walltimeSec: 600,
  logDir: '/logs',
};

const okResult = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: '' });

describe('SlurmPlugin.submit', () => {
  it('runs sbatch once per pilot, the script on stdin and the token only in its environment', async () => {
    const fake = fakeRunner([okResult('11\n'), okResult('12\n')]);
    const plugin = new SlurmPlugin({
      run: fake.run,
      env: { PATH: '/usr/bin', HOME: '/home/p', SECRET: 'x' },
      user: 'p',
    });
    const outcome = await plugin.submit(2, spec);
    expect(outcome).toEqual({ ids: ['11', '12'] });
    expect(fake.calls).toHaveLength(2);
    const call = fake.calls[0] as Call;
    expect(call.file).toBe('sbatch');
    expect(call.args).toContain('--export=PATH,HOME,GLUON_PILOT_TOKEN,AWS_REGION');
    expect(call.args.join(' ')).not.toContain('the-token');
    expect(call.options?.env?.GLUON_PILOT_TOKEN).toBe('the-token');
    expect(call.options?.env?.AWS_REGION).toBe('eu-west-1');
    expect(call.options?.input).toContain('exec /opt/gluon-pilot run --batch-id "$SLURM_JOB_ID"');
  });

  it('stops at the first refusal and returns what was submitted with the error', async () => {
    const fake = fakeRunner([
      okResult('11\n'),
      { code: 1, stdout: '', stderr: 'sbatch: error: QOSMaxSubmitJobPerUserLimit\n' },
    ]);
    const plugin = new SlurmPlugin({ run: fake.run, env: {}, user: 'p' });
    const outcome = await plugin.submit(5, spec);
    expect(outcome.ids).toEqual(['11']);
    expect(outcome.error?.message).toMatch(
      /sbatch exited with 1: sbatch: error: QOSMaxSubmitJobPerUserLimit/,
    );
    expect(fake.calls).toHaveLength(2);
  });

  it('says Slurm is missing when sbatch cannot be found', async () => {
    const missing = Object.assign(new Error('spawn sbatch ENOENT'), { code: 'ENOENT' });
    const plugin = new SlurmPlugin({ run: fakeRunner([missing]).run, env: {}, user: 'p' });
    const outcome = await plugin.submit(1, spec);
    expect(outcome.ids).toEqual([]);
    expect(outcome.error?.message).toMatch(/sbatch not found/);
  });
});

describe('SlurmPlugin.list and cancel', () => {
  it('lists the jobs of this user and job name', async () => {
    const fake = fakeRunner([okResult('5|PENDING\n6|RUNNING\n')]);
    const plugin = new SlurmPlugin({ run: fake.run, env: {}, user: 'alice' });
    expect(await plugin.list('gluon-pilot-x')).toEqual([
      { id: '5', state: 'pending', rawState: 'PENDING' },
      { id: '6', state: 'running', rawState: 'RUNNING' },
    ]);
    expect(fake.calls[0]?.file).toBe('squeue');
    expect(fake.calls[0]?.args).toEqual(
      expect.arrayContaining(['--noheader', '--user=alice', '--name=gluon-pilot-x', '--format=%i|%T']),
    );
  });

  it('fails list() when squeue fails, so the factory submits nothing', async () => {
    const fake = fakeRunner([
      { code: 1, stdout: '', stderr: 'slurm_load_jobs error: Unable to contact slurm controller' },
    ]);
    const plugin = new SlurmPlugin({ run: fake.run, env: {}, user: 'alice' });
    await expect(plugin.list('x')).rejects.toThrow(/squeue exited with 1: slurm_load_jobs error/);
  });

  it('cancels with scancel, and refuses an id that is not a Slurm job id', async () => {
    const fake = fakeRunner([okResult('')]);
    const plugin = new SlurmPlugin({ run: fake.run, env: {}, user: 'alice' });
    await plugin.cancel('42');
    expect(fake.calls[0]).toMatchObject({ file: 'scancel', args: ['42'] });
    await expect(plugin.cancel('-u alice')).rejects.toThrow(/not a Slurm job id/);
  });
});
