/**
 * The batch-system layer of the pilot factory, one plugin per batch system (Slurm now; HTCondor,
 * PBS, LSF can follow): submit pilots, list ours, cancel one. Plugins are registered in
 * plugin-registry.ts and chosen with `gluon-pilot factory --batch NAME`.
 */

/**
 * A pilot's batch job as the factory counts it. pending: waiting in the batch queue (held jobs
 * too); running: started (or starting, suspended, completing — it holds or is about to hold a
 * slot); ended: finished but still listed by the batch system.
 */
export type BatchJobState = 'pending' | 'running' | 'ended';

export interface BatchJob {
  id: string;
  state: BatchJobState;
  /** The batch system's own state name, for logs (`PENDING`, `RUNNING`, …). */
  rawState: string;
}

/** What one pilot batch job asks for and runs. */
export interface PilotJobSpec {
  /** Tags every pilot of this factory; list() returns only jobs with this name. */
  jobName: string;
  /**
   * The pilot's command line. An argument equal to BATCH_ID_PLACEHOLDER is replaced by the
   * batch system's id of the job when it starts (e.g. `$SLURM_JOB_ID`).
   */
  command: string[];
  /**
   * Variables handed to the pilot's environment. Their values travel through the batch system's
   * environment mechanism (never on a command line, where `ps` would show them).
   */
  env: Record<string, string>;
  cores: number;
  memoryMB: number;
  /** The batch job's time limit. */
  walltimeSec: number;
  /** Where the batch system writes the pilots' stdout/stderr (must exist on the worker nodes). */
  logDir: string;
  partition?: string;
  account?: string;
}

/** Stands for the job's own batch id in PilotJobSpec.command. */
export const BATCH_ID_PLACEHOLDER = '{batchId}';

/** The pilots a submit() got into the batch queue, and why it stopped early if it did. */
export interface SubmitOutcome {
  ids: string[];
  error?: BatchSystemError;
}

export interface BatchPlugin {
  /** Registry name, e.g. `slurm`. */
  readonly name: string;
  /** Submits `count` pilots, one batch job each; stops at the first refusal. */
  submit(count: number, spec: PilotJobSpec): Promise<SubmitOutcome>;
  /** This factory's pilots the batch system still knows (jobs named `jobName`, of this user). */
  list(jobName: string): Promise<BatchJob[]>;
  /** Cancels one pilot's batch job (the pilot gets SIGTERM and drains). */
  cancel(id: string): Promise<void>;
}

/** A batch command failed (non-zero exit, unreadable output, not installed). */
export class BatchSystemError extends Error {
  override readonly name = 'BatchSystemError';
  readonly code = 'BATCH_SYSTEM_ERROR';
}
