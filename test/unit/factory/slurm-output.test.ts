import { describe, expect, it } from 'vitest';
import { BATCH_ID_PLACEHOLDER, type PilotJobSpec } from '#pilot/factory/batch-plugin.ts';
import {
  parseSbatchOutput,
  parseSqueueOutput,
  sbatchArgs,
  shellQuote,
  slurmScript,
  slurmStateOf,
  slurmTimeLimit,
} from '#pilot/factory/slurm-plugin.ts';

const spec: PilotJobSpec = {
  jobName: 'gluon-pilot-cern',
  command: [
    '/opt/gluon/gluon-pilot',
    'run',
    '--api-url',
    'https://api.example/v1',
    '--batch-id',
    BATCH_ID_PLACEHOLDER,
  ],
  env: { GLUON_PILOT_TOKEN: 'tok' },
  cores: 8,
  memoryMB: 16000,
  walltimeSec: 3601,
  logDir: '/scratch/gluon logs',
};

describe('parseSqueueOutput', () => {
  it('reads job ids and states, array and heterogeneous ids included', () => {
    const out =
      '101|PENDING\n102|RUNNING\n103_4|COMPLETING\n104+0|CONFIGURING\n105|COMPLETED\n106|REQUEUE_HOLD\n';
    expect(parseSqueueOutput(out)).toEqual([
      { id: '101', state: 'pending', rawState: 'PENDING' },
      { id: '102', state: 'running', rawState: 'RUNNING' },
      { id: '103_4', state: 'running', rawState: 'COMPLETING' },
      { id: '104+0', state: 'running', rawState: 'CONFIGURING' },
      { id: '105', state: 'ended', rawState: 'COMPLETED' },
      { id: '106', state: 'pending', rawState: 'REQUEUE_HOLD' },
    ]);
  });

  it('reads an empty queue as no jobs', () => {
    expect(parseSqueueOutput('')).toEqual([]);
    expect(parseSqueueOutput('\n  \n')).toEqual([]);
  });

  it('rejects a line it cannot read instead of guessing a count', () => {
    expect(() => parseSqueueOutput('JOBID|STATE\n')).toThrow(/unexpected squeue line/);
    expect(() => parseSqueueOutput('101 PENDING')).toThrow(/unexpected squeue line/);
  });
});

describe('slurmStateOf', () => {
  it('counts an unknown state as running, so it never frees room for more pilots', () => {
    expect(slurmStateOf('SOMETHING_NEW')).toBe('running');
    expect(slurmStateOf('suspended')).toBe('running');
    expect(slurmStateOf('CANCELLED')).toBe('ended');
  });
});

describe('parseSbatchOutput', () => {
  it('reads the job id of --parsable output, with or without a cluster', () => {
    expect(parseSbatchOutput('4242\n')).toBe('4242');
    expect(parseSbatchOutput('4242;cluster-a\n')).toBe('4242');
  });

  it('skips warning lines before the id', () => {
    expect(parseSbatchOutput('sbatch: warning: something odd\n77\n')).toBe('77');
  });

  it('rejects output without a job id', () => {
    expect(() => parseSbatchOutput('')).toThrow(/unexpected sbatch output/);
    expect(() => parseSbatchOutput('Submitted batch job 12\n')).toThrow(/unexpected sbatch output/);
  });
});

describe('slurmScript', () => {
  it('execs the pilot command, quoted, with $SLURM_JOB_ID as the batch id', () => {
    const script = slurmScript({ ...spec, command: [...spec.command, "it's"] });
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain(
      `exec /opt/gluon/gluon-pilot run --api-url https://api.example/v1 --batch-id "$SLURM_JOB_ID" 'it'\\''s'\n`,
    );
    expect(script).not.toContain('tok');
  });

  it('quotes words for sh', () => {
    expect(shellQuote('plain-word_1.2/x')).toBe('plain-word_1.2/x');
    expect(shellQuote('$HOME; rm -rf /')).toBe("'$HOME; rm -rf /'");
    expect(shellQuote('')).toBe("''");
  });
});

describe('sbatchArgs', () => {
  it('asks for the slot and names the exported variables without their values', () => {
    const args = sbatchArgs(spec, ['PATH', 'GLUON_PILOT_TOKEN']);
    expect(args).toEqual([
      '--parsable',
      '--job-name=gluon-pilot-cern',
      '--output=/scratch/gluon logs/%x-%j.log',
      '--chdir=/scratch/gluon logs',
      '--ntasks=1',
      '--cpus-per-task=8',
      '--mem=16000M',
      '--time=61',
      '--export=PATH,GLUON_PILOT_TOKEN',
    ]);
  });

  it('adds partition and account when given', () => {
    const args = sbatchArgs({ ...spec, partition: 'short', account: 'atlas' }, []);
    expect(args).toContain('--partition=short');
    expect(args).toContain('--account=atlas');
    expect(args).toContain('--export=NONE');
  });

  it('rounds the time limit up to whole minutes, at least one', () => {
    expect(slurmTimeLimit(1)).toBe('1');
    expect(slurmTimeLimit(60)).toBe('1');
    expect(slurmTimeLimit(61)).toBe('2');
    expect(slurmTimeLimit(86_400)).toBe('1440');
  });
});
