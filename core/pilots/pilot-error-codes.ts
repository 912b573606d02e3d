/**
 * Stable numeric pilot error codes, shared by the pilot and bookkeeping. A number never changes
 * meaning; new codes are added, old ones are never reused. Ranges: 0 success, 1xxx payload,
 * 11xx limits, 12xx staging, 13xx pilot/system, 14xx control.
 */
export const PILOT_ERROR_CODES = {
  OK: 0,
  PAYLOAD_FAILED: 1001,
  PAYLOAD_SIGNALLED: 1002,
  PAYLOAD_NOT_FOUND: 1003,
  WALLTIME_EXCEEDED: 1101,
  MEMORY_EXCEEDED: 1102,
  LOOPING: 1103,
  OUTPUT_TOO_LARGE: 1104,
  RANGES_FAILING: 1105,
  STAGE_IN_FAILED: 1201,
  STAGE_OUT_FAILED: 1202,
  OUTPUT_MISSING: 1203,
  WORKDIR_FAILED: 1301,
  EVICTED: 1302,
  LEASE_LOST: 1303,
  PILOT_LOST: 1304,
  CLAIM_ABANDONED: 1305,
  CONSUMER_STOPPED: 1306,
  CANCELLED: 1401,
} as const;

export type PilotErrorName = keyof typeof PILOT_ERROR_CODES;
export type PilotErrorCode = (typeof PILOT_ERROR_CODES)[PilotErrorName];

export const PILOT_ERROR_DESCRIPTIONS: Record<PilotErrorCode, string> = {
  0: 'success',
  1001: 'payload exited with a non-zero code',
  1002: 'payload was killed by a signal it did not get from the pilot',
  1003: 'payload command not found or not executable',
  1101: 'payload exceeded its walltime and was killed',
  1102: 'payload exceeded its memory limit and was killed',
  1103: 'payload looked stuck (no output and no file written for too long) and was killed',
  1104: 'payload output exceeded the size cap',
  1105: 'event service: the payload failed on several ranges in a row, so the consumer stopped',
  1201: 'stage-in of inputs or sandbox failed',
  1202: 'stage-out of outputs or log failed',
  1203: 'a declared output file was not written by the payload',
  1301: 'the pilot could not prepare the work directory',
  1302: 'the pilot was asked to stop (batch-system kill, spot interruption) and ended the payload',
  1303: 'the pilot lost its lease on the job (another attempt may be running)',
  1304: 'the pilot vanished: no heartbeat before its lease expired',
  1305: 'the claim never completed (its answer was lost, or the pilot vanished while claiming); retried',
  1306: 'event service: the consumer stopped with ranges left (walltime short, or the rest in flight elsewhere); replaced',
  1401: 'the job was cancelled by its owner',
};

const CODES = new Set<number>(Object.values(PILOT_ERROR_CODES));
export function isPilotErrorCode(n: number): n is PilotErrorCode {
  return CODES.has(n);
}

/**
 * Codes that are the infrastructure's fault, not the job's: the default retry rules retry them
 * without using the user's attempt budget (core/policies/retry-rules.ts).
 */
export const SYSTEM_ERROR_CODES: ReadonlySet<PilotErrorCode> = new Set([
  PILOT_ERROR_CODES.STAGE_IN_FAILED,
  PILOT_ERROR_CODES.EVICTED,
  PILOT_ERROR_CODES.PILOT_LOST,
  PILOT_ERROR_CODES.CLAIM_ABANDONED,
  PILOT_ERROR_CODES.CONSUMER_STOPPED,
]);
