/** What the factory knows at the start of a cycle. */
export interface SubmitInputs {
  /** Pilots the site could use now (SiteDemand.pilotsWanted). */
  pilotsWanted: number;
  /** Our pilots waiting in the batch queue. */
  pending: number;
  /** Our pilots started by the batch system (running, completing, suspended …). */
  running: number;
  /**
   * Of the running ones, those not registered with the API yet (default 0): the demand does not
   * count them, but each will soon take a queued job.
   */
  unregistered?: number;
  /** Most of our pilots waiting in the batch queue at once (--max-pending). */
  maxPending: number;
  /** Most of our pilots in the batch system at once, pending or running. */
  maxPilots: number;
}

/**
 * How many pilots to submit now: what the site wants beyond what already waits in the batch queue
 * (or has started but not registered yet), never past the pending cap nor the total cap, never
 * negative. A factory that submits this many each cycle never floods the site: pending pilots are
 * not counted again next cycle.
 */
export function pilotsToSubmit(inputs: SubmitInputs): number {
  const { pilotsWanted, pending, running, maxPending, maxPilots, unregistered = 0 } = inputs;
  for (const [name, value] of Object.entries(inputs)) {
    if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number (got ${value})`);
  }
  const n = Math.min(
    pilotsWanted - pending - unregistered,
    maxPending - pending,
    maxPilots - (pending + running),
  );
  return Math.max(0, Math.floor(n));
}
