import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FactoryConfigError, resolveFactoryConfig, selectVariables } from '#pilot/factory/factory-config.ts';

const required = { apiUrl: 'https://api.example', site: 'cern' };
const env = { GLUON_PILOT_TOKEN: 'tok' };

function configError(fn: () => unknown): FactoryConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof FactoryConfigError) return error;
    throw error;
  }
  throw new Error('no FactoryConfigError');
}

describe('resolveFactoryConfig', () => {
  it('fills the defaults', () => {
    const config = resolveFactoryConfig(required, env);
    expect(config).toMatchObject({
      apiUrl: 'https://api.example',
      token: 'tok',
      siteId: 'cern',
      batch: 'slurm',
      intervalSec: 60,
      maxPending: 10,
      jobName: 'gluon-pilot-cern',
      logDir: join(homedir(), 'gluon-pilot-logs', 'cern'),
      pilotEnv: ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL*'],
      logLevel: 'info',
      once: false,
    });
    expect(config.maxPilots).toBeUndefined();
    expect(config.pilotBinary).toBeUndefined();
    expect(config.cores).toBeUndefined();
  });

  it('takes flags over variables over defaults', () => {
    const config = resolveFactoryConfig(
      { ...required, maxPending: '3', once: true },
      { ...env, GLUON_FACTORY_MAX_PENDING: '7', GLUON_FACTORY_INTERVAL_SEC: '2', GLUON_FACTORY_CORES: '8' },
    );
    expect(config.maxPending).toBe(3);
    expect(config.intervalSec).toBe(2);
    expect(config.cores).toBe(8);
    expect(config.once).toBe(true);
  });

  it('names the missing option and its variable', () => {
    const error = configError(() => resolveFactoryConfig({ site: 'cern' }, env));
    expect(error.option).toBe('--api-url');
    expect(error.message).toBe('--api-url is required (or set GLUON_API_URL)');
    expect(configError(() => resolveFactoryConfig(required, {})).message).toMatch(
      /--token is required.*GLUON_PILOT_TOKEN/,
    );
  });

  it('rejects bad values naming the flag and the variable', () => {
    expect(configError(() => resolveFactoryConfig({ ...required, maxPending: '-1' }, env)).message).toBe(
      "invalid value for --max-pending / GLUON_FACTORY_MAX_PENDING: must be a whole number (got '-1')",
    );
    expect(configError(() => resolveFactoryConfig({ ...required, batch: 'lsf' }, env)).message).toMatch(
      /--batch .*must be one of local, slurm/,
    );
    expect(configError(() => resolveFactoryConfig({ ...required, intervalSec: '0' }, env)).option).toBe(
      '--interval-sec',
    );
    expect(
      configError(() => resolveFactoryConfig({ ...required, pilotBinary: 'gluon-pilot' }, env)).message,
    ).toMatch(/absolute path/);
    expect(configError(() => resolveFactoryConfig({ ...required, walltimeSec: '60' }, env)).option).toBe(
      '--walltime-sec',
    );
    expect(
      configError(() => resolveFactoryConfig({ ...required, pilotEnv: 'AWS_*,bad-name' }, env)).option,
    ).toBe('--pilot-env');
    expect(configError(() => resolveFactoryConfig({ ...required, site: 'Not A Site' }, env)).option).toBe(
      '--site',
    );
  });

  it('never shows the token in an error', () => {
    const error = configError(() =>
      resolveFactoryConfig(required, { GLUON_PILOT_TOKEN: 'has spaces secret' }),
    );
    expect(error.option).toBe('--token');
    expect(error.message).not.toContain('secret');
  });
});

describe('selectVariables', () => {
  it('picks exact names and NAME* prefixes', () => {
    const picked = selectVariables(
      { AWS_REGION: 'r', AWS_ENDPOINT_URL_SQS: 'q', AWS_SECRET_ACCESS_KEY: 's', HOME: '/h', OTHER: 'o' },
      ['AWS_REGION', 'AWS_ENDPOINT_URL*', 'HOME'],
    );
    expect(picked).toEqual({ AWS_REGION: 'r', AWS_ENDPOINT_URL_SQS: 'q', HOME: '/h' });
  });
});
