import { describe, expect, it } from 'vitest';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { classifyPayloadEnd, type PayloadExit, type StopReason } from '#pilot/payload-end.ts';

const ctx = { command: 'athena.py', walltimeSec: 3600, memoryMB: 2000, loopingSec: 7200, logCapBytes: 1000 };
const exited = (code: number): PayloadExit => ({ code, signal: null });
const killed = (signal: NodeJS.Signals): PayloadExit => ({ code: null, signal });

describe('classifyPayloadEnd: how a payload’s end maps to a pilot error code', () => {
  it.each<[string, PayloadExit, StopReason | undefined, number, Record<string, unknown>]>([
    ['exit 0', exited(0), undefined, PILOT_ERROR_CODES.OK, { exitCode: 0 }],
    ['exit 1', exited(1), undefined, PILOT_ERROR_CODES.PAYLOAD_FAILED, { exitCode: 1 }],
    ['exit 65', exited(65), undefined, PILOT_ERROR_CODES.PAYLOAD_FAILED, { exitCode: 65 }],
    [
      'exit 126 (not executable)',
      exited(126),
      undefined,
      PILOT_ERROR_CODES.PAYLOAD_NOT_FOUND,
      { exitCode: 126 },
    ],
    ['exit 127 (not found)', exited(127), undefined, PILOT_ERROR_CODES.PAYLOAD_NOT_FOUND, { exitCode: 127 }],
    [
      'exit 128 (no such signal 0)',
      exited(128),
      undefined,
      PILOT_ERROR_CODES.PAYLOAD_FAILED,
      { exitCode: 128 },
    ],
    [
      'exit 137 = 128+9 via the wrapper',
      exited(137),
      undefined,
      PILOT_ERROR_CODES.PAYLOAD_SIGNALLED,
      { signal: 'SIGKILL' },
    ],
    [
      'exit 139 = 128+11 (segfault)',
      exited(139),
      undefined,
      PILOT_ERROR_CODES.PAYLOAD_SIGNALLED,
      { signal: 'SIGSEGV' },
    ],
    ['exit 255', exited(255), undefined, PILOT_ERROR_CODES.PAYLOAD_FAILED, { exitCode: 255 }],
    [
      'SIGKILL not from the pilot',
      killed('SIGKILL'),
      undefined,
      PILOT_ERROR_CODES.PAYLOAD_SIGNALLED,
      { signal: 'SIGKILL' },
    ],
    [
      'walltime',
      killed('SIGTERM'),
      'walltime',
      PILOT_ERROR_CODES.WALLTIME_EXCEEDED,
      { stoppedBy: 'walltime' },
    ],
    ['memory', exited(143), 'memory', PILOT_ERROR_CODES.MEMORY_EXCEEDED, { signal: 'SIGTERM' }],
    ['looping', killed('SIGTERM'), 'looping', PILOT_ERROR_CODES.LOOPING, { stoppedBy: 'looping' }],
    ['output cap', killed('SIGTERM'), 'output', PILOT_ERROR_CODES.OUTPUT_TOO_LARGE, { stoppedBy: 'output' }],
    [
      'stopped by the pilot, exit 0 anyway',
      exited(0),
      'walltime',
      PILOT_ERROR_CODES.WALLTIME_EXCEEDED,
      { exitCode: 0 },
    ],
  ])('%s', (_, exit, stoppedBy, code, fields) => {
    const end = classifyPayloadEnd(exit, stoppedBy, ctx);
    expect(end.pilotErrorCode).toBe(code);
    expect(end).toMatchObject(fields);
    if (code === PILOT_ERROR_CODES.OK) expect(end.errorMessage).toBeUndefined();
    else expect(end.errorMessage).toBeTruthy();
  });

  it('reports the abort reason given by the pilot, EVICTED when it is not a code', () => {
    for (const [reason, code] of [
      [PILOT_ERROR_CODES.CANCELLED, PILOT_ERROR_CODES.CANCELLED],
      [PILOT_ERROR_CODES.LEASE_LOST, PILOT_ERROR_CODES.LEASE_LOST],
      ['SIGTERM', PILOT_ERROR_CODES.EVICTED],
      [undefined, PILOT_ERROR_CODES.EVICTED],
      [9999, PILOT_ERROR_CODES.EVICTED],
    ] as const) {
      expect(
        classifyPayloadEnd(killed('SIGTERM'), 'abort', { ...ctx, abortReason: reason }).pilotErrorCode,
      ).toBe(code);
    }
  });

  it('reports a payload that could not be started as PAYLOAD_NOT_FOUND', () => {
    const end = classifyPayloadEnd(
      { code: null, signal: null, error: new Error('spawn ENOENT') },
      undefined,
      ctx,
    );
    expect(end).toEqual({
      pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_NOT_FOUND,
      errorMessage: 'the payload could not be started: spawn ENOENT',
    });
  });

  it('names the limits in its messages', () => {
    expect(classifyPayloadEnd(killed('SIGTERM'), 'looping', ctx).errorMessage).toContain('7200 s');
    expect(classifyPayloadEnd(killed('SIGTERM'), 'output', ctx).errorMessage).toContain('1000 bytes');
    expect(
      classifyPayloadEnd(killed('SIGTERM'), 'memory', { ...ctx, memoryAtStopKB: 3 * 1024 * 1024 })
        .errorMessage,
    ).toContain("memory limit of 2000 MB exceeded (RSS of the payload's processes 3072 MB)");
  });
});
