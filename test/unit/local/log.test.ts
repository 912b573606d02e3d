import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLog, type Log, loggerOf, silentLog } from '#local/log.ts';
import { loggedBytes } from '#platform/logger.ts';

/** What consoleLog writes to stdout and stderr while `run` runs. */
function written(run: () => void): { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    run();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { stdout, stderr };
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('consoleLog', () => {
  it('writes info to stdout as a readable line with its log keys, marked as the local stack', () => {
    const { stdout, stderr } = written(() => consoleLog('info', 'task submitted', { taskId: 't-abc123' }));
    expect(stdout).toBe('[gluon-local] task submitted {"taskId":"t-abc123"}\n');
    expect(stderr).toBe('');
  });

  it('writes warnings and errors to stderr with their level, errors by name and message', () => {
    const { stdout, stderr } = written(() => {
      consoleLog('warn', 'stream read failed; trying again', { shardId: 'shard-1' });
      consoleLog('error', 'handler threw', { error: new RangeError('out of range') });
    });
    expect(stdout).toBe('');
    expect(stderr).toBe(
      '[gluon-local] warn: stream read failed; trying again {"shardId":"shard-1"}\n' +
        '[gluon-local] error: handler threw {"error":{"name":"RangeError","message":"out of range"}}\n',
    );
  });

  it('counts what it writes in the bytes logged by the process', () => {
    const before = loggedBytes();
    const { stdout } = written(() => consoleLog('info', 'pilot started', { pilotId: 'p-é' }));
    expect(loggedBytes() - before).toBe(Buffer.byteLength(stdout.replace('[gluon-local] ', '')));
  });

  it('drops debug lines unless GLUON_LOCAL_DEBUG is set when the stack starts', async () => {
    const loaded = async (debug: string | undefined): Promise<Log> => {
      vi.stubEnv('GLUON_LOCAL_DEBUG', debug);
      vi.resetModules();
      return (await import('#local/log.ts')).consoleLog;
    };
    const quiet = await loaded(undefined);
    expect(written(() => quiet('debug', 'tick')).stdout).toBe('');
    const debugging = await loaded('1');
    expect(written(() => debugging('debug', 'tick')).stdout).toBe('[gluon-local] debug: tick\n');
  });
});

describe('loggerOf', () => {
  it('gives a Logger that writes to the log, with its base keys under the keys of each line', () => {
    const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
    const log: Log = (level, message, fields) => lines.push([level, message, fields]);
    const logger = loggerOf(log, { component: 'factory', siteId: 'local' });
    logger.info('pilots submitted', { count: 2 });
    logger.warn('demand unknown', { siteId: 'other' });
    logger.child({ pilotId: 'p-abc123' }).error('pilot exited with an error', { exitCode: 3 });
    logger.debug('cycle');
    expect(lines).toEqual([
      ['info', 'pilots submitted', { component: 'factory', siteId: 'local', count: 2 }],
      ['warn', 'demand unknown', { component: 'factory', siteId: 'other' }],
      [
        'error',
        'pilot exited with an error',
        { component: 'factory', siteId: 'local', pilotId: 'p-abc123', exitCode: 3 },
      ],
      ['debug', 'cycle', { component: 'factory', siteId: 'local' }],
    ]);
  });

  it('writes nothing through the silent log', () => {
    const { stdout, stderr } = written(() => {
      silentLog('error', 'ignored');
      loggerOf(silentLog).error('ignored too');
    });
    expect(stdout + stderr).toBe('');
  });
});
