import type { Page, PageRequest, PilotCredentials } from '../api/index.ts';
import type { LivePilotState, Pilot, PilotLease } from './pilot.ts';

/** The registry of pilots: one record each, written at registration and when the pilot is gone. */
export interface PilotStore {
  /** Records a new pilot; `exists` (writing nothing) when its id is registered already. */
  register(pilot: Pilot): Promise<'registered' | 'exists'>;
  get(pilotId: string): Promise<Pilot | undefined>;
  /** A page of pilots (any order). */
  list(page: PageRequest): Promise<Page<Pilot>>;
  /** Records the end of a pilot: exited or lost, when, and how many jobs it ran. */
  end(pilotId: string, change: { state: 'exited' | 'lost'; at: string; jobsRun?: number }): Promise<void>;
}

/** Live pilots' leases: small records renewed by heartbeats, swept by the reaper. */
export interface PilotLeaseStore {
  /** Where pilots renew their own lease (the table name), given to them at registration. */
  readonly tableName: string;
  /** Creates a pilot's lease, once: a lease that exists already stays as it is (a retried registration). */
  create(lease: PilotLease): Promise<void>;
  get(pilotId: string): Promise<PilotLease | undefined>;
  /**
   * A claim or a report: sets the attempts the pilot holds and renews the lease, if the pilot is live
   * (and of `siteId`, when given). Kill entries of reported attempts are dropped. A draining lease
   * stays draining whatever `state` says: a drain is never undone (only the pilot's own renewal moves
   * it on, to exited). Undefined when the pilot is not live (or of another site).
   */
  hold(
    pilotId: string,
    change: {
      jobs: string[];
      state: LivePilotState;
      expiresAt: number;
      siteId?: string;
      dropKills?: string[];
    },
  ): Promise<PilotLease | undefined>;
  /** The heartbeat: renews a live pilot's lease (or records its exit). Undefined when the pilot is not live. */
  renew(
    pilotId: string,
    change: { state: LivePilotState | 'exited'; expiresAt: number; beatAt: string; jobsRun: number },
  ): Promise<PilotLease | undefined>;
  /** Tells a pilot to kill attempts it holds (`attemptKey|reason` entries); no-op for a pilot gone. */
  addKills(pilotId: string, entries: string[]): Promise<void>;
  /** Marks a live pilot whose lease expired before `now` as lost; undefined when it is not (renewed meanwhile). */
  markLost(pilotId: string, now: number): Promise<PilotLease | undefined>;
  remove(pilotId: string): Promise<void>;
  /** One page of a sweep over every lease (eventually consistent). */
  scan(cursor?: string): Promise<{ leases: PilotLease[]; cursor?: string }>;
}

/** Vends short-lived credentials scoped to one pilot (STS in AWS); undefined where pilots bring their own. */
export interface CredentialVendor {
  vend(scope: {
    pilotId: string;
    siteId: string;
    queueUrl: string;
    bucket: string;
    leaseTable: string;
  }): Promise<PilotCredentials | undefined>;
}
