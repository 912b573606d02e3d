/**
 * The payload runner against real child processes: exit codes, limits, usage, log capture and
 * that nothing of a payload outlives it.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { resolvePayload } from '#core/tasks/substitute.ts';
import { type RunPayloadOptions, runPayload } from '#pilot/payload-runner.ts';

let root: string;
let workDir: string;
let logFile: string;
/** A variable set in every test payload's environment, to find its processes in /proc afterwards. */
let marker: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gluon-payload-'));
  workDir = join(root, 'job');
  mkdirSync(workDir);
  logFile = join(root, 'payload.log');
  marker = randomUUID();
});

afterEach(() => {
  for (const pid of processesWithMarker(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

/** Pids whose environment holds TEST_MARKER=<marker> (read straight from /proc). */
function processesWithMarker(value: string): number[] {
  const needle = `\0TEST_MARKER=${value}\0`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = `\0${readFileSync(`/proc/${name}/environ`, 'latin1')}\0`;
      if (environ.includes(needle)) pids.push(Number(name));
    } catch {
      // gone or not ours
    }
  }
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function run(options: Partial<RunPayloadOptions> & Pick<RunPayloadOptions, 'command'>) {
  return runPayload({
    args: [],
    workDir,
    walltimeSec: 30,
    logFile,
    logCapBytes: 1 << 20,
    killGraceMs: 1000,
    pollMs: 100,
    ...options,
    env: { TEST_MARKER: marker, ...options.env },
  });
}

describe('runPayload', () => {
  it('reports OK, the exit code and the CPU time of a payload that succeeds', async () => {
    const result = await run({
      command: 'node',
      // Busy until the payload itself has used 0.3 s of CPU, however the machine schedules it.
      args: [
        '-e',
        'const s = process.cpuUsage(); let u; do { u = process.cpuUsage(s); } while (u.user + u.system < 300000); console.log("done")',
      ],
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(result.exitCode).toBe(0);
    expect(result.signal).toBeUndefined();
    expect(result.errorMessage).toBeUndefined();
    expect(result.usage.cpuTimeSec).toBeGreaterThan(0.25);
    expect(result.usage.wallTimeSec).toBeGreaterThan(0.25);
    expect(result.usage.maxRssKB).toBeGreaterThan(0);
    expect(readFileSync(logFile, 'utf8')).toBe('done\n');
  });

  it('reports PAYLOAD_FAILED with the exit code and the log tail when the payload exits non-zero', async () => {
    const result = await run({ command: 'sh', args: ['-c', 'echo "something broke" >&2; exit 3'] });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.PAYLOAD_FAILED);
    expect(result.exitCode).toBe(3);
    expect(result.errorMessage).toContain('exited with code 3');
    expect(result.errorMessage).toContain('something broke');
  });

  it('kills the whole process group at the walltime limit and reports WALLTIME_EXCEEDED', async () => {
    const result = await run({ command: 'sh', args: ['-c', 'sleep 30 & sleep 30'], walltimeSec: 1 });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.WALLTIME_EXCEEDED);
    expect(result.stoppedBy).toBe('walltime');
    expect(result.usage.wallTimeSec).toBeGreaterThanOrEqual(1);
    expect(result.usage.wallTimeSec).toBeLessThan(25);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('escalates to SIGKILL after the grace period when the payload ignores SIGTERM', async () => {
    const result = await run({
      command: 'sh',
      args: ['-c', 'trap "" TERM; sleep 30; sleep 30'],
      walltimeSec: 1,
      killGraceMs: 500,
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.WALLTIME_EXCEEDED);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('kills the payload over its memory limit and reports MEMORY_EXCEEDED', async () => {
    const allocate =
      'const keep = []; for (let i = 0; i < 30; i++) keep.push(Buffer.alloc(10 * 1024 * 1024, 1)); ' +
      'setTimeout(() => {}, 30000)';
    const result = await run({ command: 'node', args: ['-e', allocate], memoryMB: 100 });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.MEMORY_EXCEEDED);
    expect(result.stoppedBy).toBe('memory');
    expect(result.usage.maxRssKB).toBeGreaterThan(100 * 1024);
    expect(result.errorMessage).toContain('memory limit of 100 MB');
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('kills a background child the payload left behind', async () => {
    const result = await run({ command: 'sh', args: ['-c', 'sleep 60 & echo $! > bg.pid; exit 0'] });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    const backgroundPid = Number(readFileSync(join(workDir, 'bg.pid'), 'utf8'));
    expect(backgroundPid).toBeGreaterThan(0);
    expect(isAlive(backgroundPid)).toBe(false);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('kills a child that left the process group with setsid', async () => {
    const result = await run({
      command: 'sh',
      args: ['-c', 'setsid sleep 60 & echo $! > bg.pid; sleep 0.2'],
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    const escapedPid = Number(readFileSync(join(workDir, 'bg.pid'), 'utf8'));
    expect(isAlive(escapedPid)).toBe(false);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('reports PAYLOAD_NOT_FOUND for a command that does not exist', async () => {
    const result = await run({ command: 'gluon-no-such-command-xyz', args: ['--flag'] });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.PAYLOAD_NOT_FOUND);
    expect(result.exitCode).toBe(127);
    expect(result.errorMessage).toContain('gluon-no-such-command-xyz');
  });

  it('reports PAYLOAD_SIGNALLED with the signal name when the payload is killed by a signal the pilot did not send', async () => {
    const result = await run({ command: 'sh', args: ['-c', 'kill -KILL $$'] });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.PAYLOAD_SIGNALLED);
    expect(result.signal).toBe('SIGKILL');
    expect(result.exitCode).toBeUndefined();
  });

  it('gives the payload its GLUON_* variables, a clean environment, its work directory as cwd and TMPDIR', async () => {
    process.env.GLUON_TEST_LEAK = 'leaked';
    try {
      const resolved = resolvePayload(
        {
          command: 'sh',
          args: ['-c', 'echo "index=$GLUON_JOB_INDEX events=${nEvents}"; env; pwd'],
          env: {},
          sandbox: [],
        },
        { taskId: 't-abcdef12', jobId: 't-abcdef12.7', attempt: 2, workDir, jobIndex: 7, nEvents: 50 },
      );
      const result = await run({ command: resolved.command, args: resolved.args, env: resolved.env });
      expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
      const log = readFileSync(logFile, 'utf8');
      expect(log).toContain('index=7 events=50');
      expect(log).toContain('GLUON_ATTEMPT=2');
      expect(log).toContain(`TMPDIR=${workDir}`);
      expect(log).not.toContain('GLUON_TEST_LEAK');
      expect(log.trim().split('\n').at(-1)).toBe(workDir);
    } finally {
      delete process.env.GLUON_TEST_LEAK;
    }
  });

  it('keeps the log within its cap and marks the cut when the payload floods stdout', async () => {
    const cap = 100_000;
    const result = await run({
      command: 'sh',
      args: ['-c', 'head -c 5000000 /dev/zero | tr "\\0" a; echo tail-line >&2'],
      logCapBytes: cap,
      logCapAction: 'truncate',
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    const size = statSync(logFile).size;
    expect(size).toBeLessThanOrEqual(cap);
    expect(size).toBeGreaterThan(cap - 200);
    const log = readFileSync(logFile, 'utf8');
    expect(log.startsWith('aaaa')).toBe(true);
    expect(log).toContain('log cap of 100000 bytes reached');
    expect(log).not.toContain('tail-line');
  });

  it('kills a payload whose output passes the cap and reports OUTPUT_TOO_LARGE', async () => {
    const cap = 100_000;
    // `yes` never ends on its own: only the cap can stop it before the walltime.
    const result = await run({ command: 'yes', args: ['flood'], logCapBytes: cap, walltimeSec: 30 });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OUTPUT_TOO_LARGE);
    expect(result.stoppedBy).toBe('output');
    expect(result.usage.wallTimeSec).toBeLessThan(20);
    expect(result.errorMessage).toContain('log cap of 100000 bytes');
    expect(statSync(logFile).size).toBeLessThanOrEqual(cap);
    expect(readFileSync(logFile, 'utf8')).toContain('log cap of 100000 bytes reached; the payload is killed');
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('kills a payload that writes nothing for the looping limit and reports LOOPING', async () => {
    const result = await run({
      command: 'sh',
      args: ['-c', 'echo started; sleep 30 & sleep 30'],
      loopingSec: 2,
      walltimeSec: 30,
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.LOOPING);
    expect(result.stoppedBy).toBe('looping');
    expect(result.usage.wallTimeSec).toBeGreaterThanOrEqual(2);
    expect(result.usage.wallTimeSec).toBeLessThan(10);
    expect(result.errorMessage).toContain('no output and no file written in the work directory for 2 s');
    expect(result.errorMessage).toContain('started');
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('lets a quiet payload run past the looping limit while it keeps writing files', async () => {
    // No output at all, but a file touched every 0.3 s for 3.5 s: busy, not looping.
    const result = await run({
      command: 'sh',
      args: ['-c', 'i=0; while [ $i -lt 12 ]; do echo $i > progress.txt; sleep 0.3; i=$((i+1)); done'],
      loopingSec: 2,
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(result.usage.wallTimeSec).toBeGreaterThan(3);
  });

  it('ends the payload when aborted and reports the code given as the abort reason', async () => {
    const controller = new AbortController();
    let spawnedPid: number | undefined;
    const running = run({
      command: 'sleep',
      args: ['30'],
      signal: controller.signal,
      onSpawn: (pid) => {
        spawnedPid = pid;
        controller.abort(PILOT_ERROR_CODES.CANCELLED);
      },
    });
    const result = await running;
    expect(spawnedPid).toBeGreaterThan(0);
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
    expect(result.stoppedBy).toBe('abort');
    expect(isAlive(spawnedPid as number)).toBe(false);
    expect(processesWithMarker(marker)).toEqual([]);
  });

  it('does not start the payload when the signal is already aborted', async () => {
    const result = await run({
      command: 'sh',
      args: ['-c', 'touch started'],
      signal: AbortSignal.abort('stop'),
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.EVICTED);
    expect(() => statSync(join(workDir, 'started'))).toThrow();
  });

  it('runs a program from the work directory when PATH has none of that name', async () => {
    const result = await run({
      command: 'sh',
      args: ['-c', 'printf "#!/bin/sh\\necho from-sandbox\\n" > tool.sh; chmod +x tool.sh'],
    });
    expect(result.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    rmSync(logFile);
    const second = await run({ command: 'tool.sh' });
    expect(second.pilotErrorCode).toBe(PILOT_ERROR_CODES.OK);
    expect(readFileSync(logFile, 'utf8')).toBe('from-sandbox\n');
  });
});
