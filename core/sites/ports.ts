import type { ProvisioningDecision } from '../provisioning/provisioning-decision.ts';
import type {
  PilotCensus,
  Site,
  SiteRecord,
  StatusChange,
  StatusExpectation,
  TestTaskState,
} from './site.ts';
import type { OutcomeEntry, SiteOutcomes } from './site-outcomes.ts';

/** Status changes a site's history keeps (the oldest go first). */
export const SITE_HISTORY_MAX = 100;

/** Provisioning decisions a site's provisioning history keeps (the oldest go first). */
export const PROVISIONING_HISTORY_MAX = 50;

/**
 * Whether a decision goes into the provisioning history after `last`: when it asked for capacity,
 * or when what held it back or what it says changed (a quiet site adds nothing, cycle after cycle).
 */
export function isNoteworthyDecision(
  decision: ProvisioningDecision,
  last: ProvisioningDecision | undefined,
): boolean {
  return (
    decision.requested.length > 0 ||
    last === undefined ||
    last.limitedBy !== decision.limitedBy ||
    last.summary !== decision.summary
  );
}

export interface SiteStore {
  /**
   * Defines or updates a site; its census, status history and test task are kept (a field of the
   * definition left out is removed). Given `expected`, the write is fenced: 'conflict' unless the
   * site is as expected. Given `change` too (`site.status` is then `change.to`), the change is
   * recorded as in changeStatus.
   */
  put(
    site: Site,
    options?: { expected: StatusExpectation; change?: StatusChange },
  ): Promise<'ok' | 'conflict'>;
  get(siteId: string): Promise<SiteRecord | undefined>;
  list(): Promise<SiteRecord[]>;
  /** The reaper's census of a site's live pilots. */
  recordCensus(siteId: string, pilots: PilotCensus, at: string): Promise<void>;
  /**
   * The provisioner's decision of this cycle: becomes the site's `provisioned` (kept by put, like
   * the census), and is added to its provisioning history (the last PROVISIONING_HISTORY_MAX kept)
   * when isNoteworthyDecision. Nothing for an unknown site.
   */
  recordProvisioning(siteId: string, decision: ProvisioningDecision): Promise<void>;
  /** The site's noteworthy provisioning decisions, oldest first (empty when none). */
  provisioningHistory(siteId: string): Promise<ProvisioningDecision[]>;
  /**
   * Moves a site from one status to another if it is still as expected ('conflict' otherwise): the
   * change becomes the site's last, is added to its history (the last SITE_HISTORY_MAX kept), bumps
   * its status version and starts its recent outcomes again (since the change). The site's test
   * task is replaced by `testTask`, or removed.
   */
  changeStatus(
    siteId: string,
    expected: { status: SiteRecord['status']; version: number },
    change: StatusChange,
    testTask?: TestTaskState,
  ): Promise<'ok' | 'conflict'>;
  /**
   * Records the test task of a site in test, if the site's status version and test task are still
   * the ones expected (so two runs of site health do not both act); 'conflict' otherwise.
   */
  setTestTask(
    siteId: string,
    expected: { version: number; testTask: TestTaskState | undefined },
    testTask: TestTaskState,
  ): Promise<'ok' | 'conflict'>;
  /** The site's status changes, oldest first (empty for a site never changed or unknown). */
  history(siteId: string): Promise<StatusChange[]>;
  /**
   * Counts attempt ends of one feed (a stream shard) at a site, exactly once per entry: entries at
   * or before the feed's last applied `seq` are skipped. Entries before `keepFrom` or before the
   * site's last status change are dropped; buckets before `keepFrom` are removed, and feeds not
   * written since are forgotten (any change of theirs delivered again is older, so dropped).
   */
  addOutcomes(
    siteId: string,
    feed: string,
    entries: OutcomeEntry[],
    options: { at: string; keepFrom: string },
  ): Promise<void>;
  /** Counts a pilot that failed its node checks, once per pilot id (while its bucket is kept). */
  addUnhealthyPilot(
    siteId: string,
    pilotId: string,
    entry: { at: string; bucket: string },
    options: { keepFrom: string },
  ): Promise<void>;
  /** The site's recent outcomes (empty buckets when none was counted). */
  outcomes(siteId: string): Promise<SiteOutcomes>;
}
