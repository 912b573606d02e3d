/**
 * Exit codes of `gluon-pilot run`, stable like the pilot error codes: factories and batch scripts
 * act on them (e.g. stop sending pilots to a node that exits with UNHEALTHY).
 */
export const EXIT_CODES = {
  /** Done: idle, max jobs, walltime, or drained after SIGTERM/SIGINT. */
  OK: 0,
  /** Could not register (API unreachable, refused the token, site unknown) or an internal error. */
  FAILURE: 1,
  /** Bad command line or configuration. */
  USAGE: 2,
  /** A node check failed (at start, or free disk before a job): the pilot registered as unhealthy and took no work. */
  UNHEALTHY: 3,
  /** The API refused the pilot: at registration (accepted: false), or later with a 409 (marked lost). */
  REFUSED: 4,
  /** The drain after SIGTERM/SIGINT did not end within --drain-sec; the payload was killed. */
  DRAIN_TIMEOUT: 5,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The table as printed by --help. */
export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0    done: idle, max jobs, walltime, or drained after SIGTERM/SIGINT',
  '  1    could not register (API unreachable, token refused, unknown site) or internal error',
  '  2    bad command line or configuration',
  '  3    unhealthy node: a health check failed (the pilot registered the results and took no work)',
  '  4    refused by the API: at registration (accepted: false), or later told it is gone (marked lost by the reaper)',
  '  5    the drain after SIGTERM/SIGINT overran --drain-sec; the payload was killed',
  '  128+N  killed by a second signal N (e.g. 143 for SIGTERM)',
].join('\n');
