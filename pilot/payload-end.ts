/**
 * How a payload's end maps to a stable pilot error code (the table in pilot/README.md). The pilot's
 * own reason for stopping a payload wins over how the process ended; then a signal, then the exit
 * status (the wrapper shell reports a payload killed by signal N as 128+N, which is read as that signal).
 */
import { constants as osConstants } from 'node:os';
import { isPilotErrorCode, PILOT_ERROR_CODES, type PilotErrorCode } from '#core/pilots/pilot-error-codes.ts';

/** Why the pilot ended a payload. */
export type StopReason = 'walltime' | 'memory' | 'looping' | 'output' | 'abort';

export interface PayloadExit {
  /** Exit status of the wrapper; null when it was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

export interface PayloadEnd {
  pilotErrorCode: PilotErrorCode;
  exitCode?: number;
  signal?: string;
  /** A one-line summary (the caller appends the log's last lines). */
  errorMessage?: string;
  stoppedBy?: StopReason;
}

export interface PayloadEndContext {
  command: string;
  walltimeSec: number;
  memoryMB?: number;
  loopingSec?: number;
  logCapBytes: number;
  /** Summed RSS of the payload when the memory limit stopped it. */
  memoryAtStopKB?: number;
  /** The abort reason given to the payload (a pilot error code), when stoppedBy is 'abort'. */
  abortReason?: unknown;
}

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name] as [number, string]),
);

/** The code an abort reason stands for: a pilot error code, else EVICTED. */
export function abortCode(reason: unknown): PilotErrorCode {
  return typeof reason === 'number' && isPilotErrorCode(reason) ? reason : PILOT_ERROR_CODES.EVICTED;
}

export function classifyPayloadEnd(
  exit: PayloadExit,
  stoppedBy: StopReason | undefined,
  ctx: PayloadEndContext,
): PayloadEnd {
  if (exit.error !== undefined) {
    return {
      pilotErrorCode: PILOT_ERROR_CODES.PAYLOAD_NOT_FOUND,
      errorMessage: `the payload could not be started: ${exit.error.message}`,
    };
  }
  const end: PayloadEnd = { pilotErrorCode: PILOT_ERROR_CODES.OK };
  if (exit.signal !== null) end.signal = exit.signal;
  else if (exit.code !== null && exit.code > 128 && SIGNAL_NAMES.has(exit.code - 128))
    end.signal = SIGNAL_NAMES.get(exit.code - 128);
  else if (exit.code !== null) end.exitCode = exit.code;

  if (stoppedBy !== undefined) end.stoppedBy = stoppedBy;
  switch (stoppedBy) {
    case 'walltime':
      end.pilotErrorCode = PILOT_ERROR_CODES.WALLTIME_EXCEEDED;
      end.errorMessage = `walltime limit of ${ctx.walltimeSec} s exceeded; the payload was killed`;
      return end;
    case 'memory':
      end.pilotErrorCode = PILOT_ERROR_CODES.MEMORY_EXCEEDED;
      end.errorMessage =
        `memory limit of ${ctx.memoryMB} MB exceeded (RSS of the payload's processes ` +
        `${Math.round((ctx.memoryAtStopKB ?? 0) / 1024)} MB); the payload was killed`;
      return end;
    case 'looping':
      end.pilotErrorCode = PILOT_ERROR_CODES.LOOPING;
      end.errorMessage =
        `looping: no output and no file written in the work directory for ${ctx.loopingSec} s; ` +
        'the payload was killed';
      return end;
    case 'output':
      end.pilotErrorCode = PILOT_ERROR_CODES.OUTPUT_TOO_LARGE;
      end.errorMessage = `the payload's output passed the log cap of ${ctx.logCapBytes} bytes; the payload was killed`;
      return end;
    case 'abort':
      end.pilotErrorCode = abortCode(ctx.abortReason);
      end.errorMessage = 'the payload was stopped by the pilot';
      return end;
    default:
      break;
  }
  if (end.signal !== undefined) {
    end.pilotErrorCode = PILOT_ERROR_CODES.PAYLOAD_SIGNALLED;
    end.errorMessage = `the payload was killed by ${end.signal}`;
  } else if (end.exitCode === 0) {
    end.pilotErrorCode = PILOT_ERROR_CODES.OK;
  } else if (end.exitCode === 126 || end.exitCode === 127) {
    end.pilotErrorCode = PILOT_ERROR_CODES.PAYLOAD_NOT_FOUND;
    end.errorMessage = `command not found or not executable: ${ctx.command} (exit code ${end.exitCode})`;
  } else {
    end.pilotErrorCode = PILOT_ERROR_CODES.PAYLOAD_FAILED;
    end.errorMessage = `the payload exited with code ${end.exitCode}`;
  }
  return end;
}
