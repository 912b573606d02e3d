import type {
  Clock,
  CredentialVendor,
  Ids,
  JobQueue,
  JobStore,
  ObjectStore,
  PilotStore,
  SiteStore,
  TaskStore,
  WorkflowEngine,
} from './ports.ts';

export interface Settings {
  leaseSec: number;
  /** How long a queued job's message may go unclaimed before it is sent again. */
  dispatchLeaseSec: number;
  heartbeatSec: number;
  enqueuePageSize: number;
  pilotLostSec: number;
}

/** Everything a use case may need; each use case takes only the part it uses (`Pick<Deps, …>`). */
export interface Deps {
  tasks: TaskStore;
  jobs: JobStore;
  pilots: PilotStore;
  sites: SiteStore;
  queue: JobQueue;
  objects: ObjectStore;
  workflow: WorkflowEngine;
  credentials: CredentialVendor;
  clock: Clock;
  ids: Ids;
  settings: Settings;
}

/** Who calls: the subject of the token and its scopes. Pilots have subjects `pilot:<siteId>`. */
export interface Principal {
  sub: string;
  scopes: string[];
}
