import { describe, expect, it } from 'vitest';
import { PilotConfigError, resolvePilotConfig } from '#pilot/config.ts';

const REQUIRED_ENV = {
  GLUON_API_URL: 'http://127.0.0.1:8080',
  GLUON_PILOT_TOKEN: 'secret-token',
  GLUON_SITE: 'site-a',
};

function configError(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): PilotConfigError {
  try {
    resolvePilotConfig(flags, env);
  } catch (error) {
    if (error instanceof PilotConfigError) return error;
    throw error;
  }
  throw new Error('expected a PilotConfigError');
}

describe('resolvePilotConfig', () => {
  it('takes required values from GLUON_* variables and fills defaults', () => {
    const config = resolvePilotConfig({}, REQUIRED_ENV);
    expect(config).toMatchObject({
      apiUrl: 'http://127.0.0.1:8080',
      token: 'secret-token',
      siteId: 'site-a',
      walltimeSec: 86400,
      idleExitSec: 60,
      pollWaitSec: 20,
      logLevel: 'info',
      killGraceSec: 5,
      logCapMB: 50,
    });
    expect(config.cores).toBeGreaterThanOrEqual(1);
    expect(config.memoryMB).toBeGreaterThanOrEqual(1);
    expect(config.host.length).toBeGreaterThan(0);
    expect(config.maxJobs).toBeUndefined();
    expect(config.workDir).toBeUndefined();
    expect(config.batchId).toBeUndefined();
  });

  it('lets flags win over variables, and variables over defaults', () => {
    const config = resolvePilotConfig(
      { site: 'site-b', cores: '8', memoryMb: '16000' },
      { ...REQUIRED_ENV, GLUON_CORES: '4', GLUON_IDLE_EXIT_SEC: '5', GLUON_MAX_JOBS: '3' },
    );
    expect(config).toMatchObject({ siteId: 'site-b', cores: 8, memoryMB: 16000, idleExitSec: 5, maxJobs: 3 });
  });

  it('names the missing option and its variable', () => {
    const error = configError({}, { GLUON_PILOT_TOKEN: 't', GLUON_SITE: 'site-a' });
    expect(error.option).toBe('--api-url');
    expect(error.message).toContain('GLUON_API_URL');
  });

  it.each([
    [{ cores: 'abc' }, '--cores', 'whole number'],
    [{ cores: '0' }, '--cores', 'at least 1'],
    [{ pollWaitSec: '21' }, '--poll-wait-sec', 'at most 20'],
    [{ walltimeSec: '-5' }, '--walltime-sec', 'whole number'],
    [{ logLevel: 'loud' }, '--log-level', 'debug, info, warn, error'],
    [{ site: 'Site_A' }, '--site', 'lower-case'],
    [{ apiUrl: 'ftp://example.org' }, '--api-url', 'http(s) URL'],
    [{ maxJobs: '1.5' }, '--max-jobs', 'whole number'],
  ])('rejects %o naming %s', (flags, option, message) => {
    const error = configError(flags, REQUIRED_ENV);
    expect(error.option).toBe(option);
    expect(error.message).toContain(option);
    expect(error.message).toContain(message);
  });

  it('rejects a bad value from a variable naming the flag and the variable', () => {
    const error = configError({}, { ...REQUIRED_ENV, GLUON_IDLE_EXIT_SEC: 'soon' });
    expect(error.option).toBe('--idle-exit-sec');
    expect(error.message).toContain('GLUON_IDLE_EXIT_SEC');
  });

  it('rejects a token with spaces without echoing it', () => {
    const error = configError({ token: 'secret with spaces' }, REQUIRED_ENV);
    expect(error.option).toBe('--token');
    expect(error.message).not.toContain('secret');
  });
});
