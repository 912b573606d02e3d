import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PILOT_OPTIONS, PilotConfigError, resolvePilotConfig } from '#pilot/config.ts';

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
      idleExitSec: 60,
      pollWaitSec: 20,
      logLevel: 'info',
      killGraceSec: 5,
      logCapMB: 50,
      logCapAction: 'kill',
      loopingSec: 7200,
      minJobWalltimeSec: 60,
      drainSec: 30,
      minFreeDiskMB: 2048,
      minFreeDiskRunningMB: 1024,
      maxLoadPerCore: 4,
      maxClockSkewSec: 120,
      minTokenLifetimeSec: 600,
      credentials: 'auto',
      requirePaths: [],
      tags: [],
    });
    expect(config.walltimeSec).toBeUndefined();
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

  it('runs as many jobs at once as it offers cores unless told, and offers the free disk of a work directory not made yet', () => {
    const config = resolvePilotConfig(
      { cores: '6', workDir: join(tmpdir(), 'gluon-not-made-yet', 'work') },
      REQUIRED_ENV,
    );
    expect(config.jobsAtOnce).toBe(6);
    // The work directory is made at start; its file system is its nearest existing parent's.
    expect(config.diskMB).toBeGreaterThan(0);
    expect(resolvePilotConfig({ cores: '6', jobsAtOnce: '1' }, REQUIRED_ENV).jobsAtOnce).toBe(1);
    expect(configError({ jobsAtOnce: '0' }, REQUIRED_ENV).option).toBe('--jobs-at-once');
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
    [{ logCapAction: 'explode' }, '--log-cap-action', 'kill, truncate'],
    [{ credentials: 'mine' }, '--credentials', 'auto, vended, environment'],
    [{ maxLoadPerCore: 'high' }, '--max-load-per-core', 'a number'],
    [{ requirePath: ['relative/path'] }, '--require-path', 'absolute'],
    [{ tag: ['has space'] }, '--tag', '1–64 letters'],
    [{ drainSec: '0' }, '--drain-sec', 'at least 1'],
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

describe('resolvePilotConfig with repeatable options', () => {
  it('takes repeated flags as lists, and variables split on their separator', () => {
    const fromFlags = resolvePilotConfig(
      { tag: ['gpu', 'avx2'], requirePath: ['/cvmfs/atlas.cern.ch', '/cvmfs/sft.cern.ch'] },
      REQUIRED_ENV,
    );
    expect(fromFlags.tags).toEqual(['gpu', 'avx2']);
    expect(fromFlags.requirePaths).toEqual(['/cvmfs/atlas.cern.ch', '/cvmfs/sft.cern.ch']);
    const fromEnv = resolvePilotConfig(
      {},
      { ...REQUIRED_ENV, GLUON_TAGS: 'a,b', GLUON_REQUIRE_PATHS: '/cvmfs/a:/cvmfs/b' },
    );
    expect(fromEnv.tags).toEqual(['a', 'b']);
    expect(fromEnv.requirePaths).toEqual(['/cvmfs/a', '/cvmfs/b']);
  });

  it('takes the batch id from SLURM_JOB_ID when not given', () => {
    expect(resolvePilotConfig({}, { ...REQUIRED_ENV, SLURM_JOB_ID: '4242' }).batchId).toBe('4242');
    expect(resolvePilotConfig({ batchId: 'x' }, { ...REQUIRED_ENV, SLURM_JOB_ID: '4242' }).batchId).toBe('x');
  });
});

describe('resolvePilotConfig for cloud pilots', () => {
  it('is not a cloud pilot by default; IMDS at the link-local address, polled every 5 s', () => {
    const config = resolvePilotConfig({}, REQUIRED_ENV);
    expect(config.cloud).toBeUndefined();
    expect(config).toMatchObject({
      imdsEndpoint: 'http://169.254.169.254',
      imdsPollSec: 5,
      pilotsOnInstance: 1,
    });
  });

  it('takes --cloud, --imds-endpoint, --imds-poll-sec and --pilots-on-instance from flags or variables', () => {
    expect(
      resolvePilotConfig(
        { cloud: 'ec2', imdsEndpoint: 'http://127.0.0.1:1338', imdsPollSec: '2', pilotsOnInstance: '4' },
        REQUIRED_ENV,
      ),
    ).toMatchObject({
      cloud: 'ec2',
      imdsEndpoint: 'http://127.0.0.1:1338',
      imdsPollSec: 2,
      pilotsOnInstance: 4,
    });
    expect(
      resolvePilotConfig(
        {},
        { ...REQUIRED_ENV, GLUON_PILOT_CLOUD: 'ec2', GLUON_IMDS_ENDPOINT: 'http://10.0.0.1' },
      ),
    ).toMatchObject({ cloud: 'ec2', imdsEndpoint: 'http://10.0.0.1' });
  });

  it('is a batch pilot whose batch id is the job’s when AWS_BATCH_JOB_ID is set', () => {
    const config = resolvePilotConfig(
      {},
      { ...REQUIRED_ENV, AWS_BATCH_JOB_ID: 'a1b2c3:7', SLURM_JOB_ID: '9' },
    );
    expect(config).toMatchObject({ cloud: 'batch', batchId: 'a1b2c3:7' });
    expect(resolvePilotConfig({ cloud: 'ec2' }, { ...REQUIRED_ENV, AWS_BATCH_JOB_ID: 'a1' }).cloud).toBe(
      'ec2',
    );
  });

  it('rejects an unknown provider, a bad endpoint and a zero poll interval, naming the flag', () => {
    expect(configError({ cloud: 'gcp' }, REQUIRED_ENV).message).toContain('--cloud');
    expect(configError({ imdsEndpoint: 'imds' }, REQUIRED_ENV).option).toBe('--imds-endpoint');
    expect(configError({}, { ...REQUIRED_ENV, GLUON_IMDS_POLL_SEC: '0' }).message).toContain(
      'GLUON_IMDS_POLL_SEC',
    );
    expect(configError({ pilotsOnInstance: '0' }, REQUIRED_ENV).option).toBe('--pilots-on-instance');
  });
});

describe('resolvePilotConfig with a config file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gluon-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  const yaml = () =>
    file(
      'pilot.yaml',
      [
        'apiUrl: http://127.0.0.1:9000',
        'token: file-token',
        'site: site-file',
        'cores: 3',
        'idleExitSec: 30',
        'maxJobs: 7',
        'logCapAction: truncate',
        'maxLoadPerCore: 2.5',
        'requirePath:',
        '  - /cvmfs/atlas.cern.ch',
        'tag: [gpu]',
        '',
      ].join('\n'),
    );

  it('reads a YAML file, keys named like the long options in camelCase', () => {
    const config = resolvePilotConfig({ config: yaml() }, {});
    expect(config).toMatchObject({
      apiUrl: 'http://127.0.0.1:9000',
      token: 'file-token',
      siteId: 'site-file',
      cores: 3,
      idleExitSec: 30,
      maxJobs: 7,
      logCapAction: 'truncate',
      maxLoadPerCore: 2.5,
      requirePaths: ['/cvmfs/atlas.cern.ch'],
      tags: ['gpu'],
    });
  });

  it('reads a JSON file, also named by GLUON_CONFIG', () => {
    const path = file(
      'pilot.json',
      JSON.stringify({ apiUrl: 'http://127.0.0.1:9', token: 't', site: 'site-j', memoryMb: 1000 }),
    );
    expect(resolvePilotConfig({}, { GLUON_CONFIG: path })).toMatchObject({
      siteId: 'site-j',
      memoryMB: 1000,
    });
  });

  it('lets flags win over variables, and variables over the file', () => {
    const config = resolvePilotConfig(
      { config: yaml(), cores: '8', tag: ['cli'] },
      { GLUON_CORES: '6', GLUON_IDLE_EXIT_SEC: '5', GLUON_SITE: 'site-env', GLUON_TAGS: 'env' },
    );
    expect(config).toMatchObject({ cores: 8, idleExitSec: 5, siteId: 'site-env', maxJobs: 7, tags: ['cli'] });
  });

  it('names the file key of a bad value from the file', () => {
    const path = file(
      'bad-value.yaml',
      'apiUrl: http://127.0.0.1:1\ntoken: t\nsite: site-a\npollWaitSec: 99\n',
    );
    const error = configError({ config: path }, {});
    expect(error.option).toBe('--poll-wait-sec');
    expect(error.message).toBe(
      `invalid value for --poll-wait-sec / key pollWaitSec in ${path}: must be at most 20 (got '99')`,
    );
  });

  it.each([
    ['unknown.yaml', 'memoryMB: 100\n', 'unknown key memoryMB', 'did you mean memoryMb?'],
    ['list.yaml', 'cores: [1, 2]\n', 'key cores', 'not a list'],
    ['nested.yaml', 'cores: { n: 1 }\n', 'key cores', 'a string, a number or a boolean'],
    ['broken.yaml', 'cores: [1\n', 'not valid YAML or JSON', ''],
    ['scalar.yaml', 'just text\n', 'must hold a mapping', ''],
  ])('rejects %s naming the problem', (name, text, first, second) => {
    const error = configError({ config: file(name, text) }, REQUIRED_ENV);
    expect(error.option).toBe('--config');
    expect(error.message).toContain(first);
    expect(error.message).toContain(second);
  });

  it('rejects a file that cannot be read', () => {
    const error = configError({ config: join(dir, 'missing.yaml') }, REQUIRED_ENV);
    expect(error.message).toContain('cannot read the config file');
    expect(error.message).toContain('ENOENT');
  });

  it('accepts every option as a file key', () => {
    const keys = PILOT_OPTIONS.map((o) =>
      o.flag
        .split(' ')[0]
        ?.slice(2)
        .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
    );
    expect(keys).toContain('memoryMb');
    expect(keys).toContain('requirePath');
    expect(new Set(keys).size).toBe(PILOT_OPTIONS.length);
  });
});
