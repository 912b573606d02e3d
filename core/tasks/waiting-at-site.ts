import type { JobFinding } from '../api/tasks.ts';
import { HIMEM_MB_PER_CORE, type ResourceClass } from '../jobs/resource-class.ts';
import type { FilterName } from '../policies/brokerage-decision.ts';
import { livePilots, type PilotCensus, type SiteRecord } from '../sites/site.ts';

/** What is known of a site where jobs wait: its record, its pilots, its queue, and what fails now. */
export interface WaitingFacts {
  site: SiteRecord;
  pilots: PilotCensus;
  queuedJobs: number;
  /** The hard filter the jobs fail at this site now (brokerage's rules applied to the site as it is). */
  failing?: { filter: FilterName; reason: string };
  /** The jobs' resource class: the queue they wait in, and the pilots that may take them. */
  resourceClass?: ResourceClass;
}

const CLASS_WORDS: Record<ResourceClass, string> = {
  score: 'single-core',
  mcore: 'multi-core',
  himem: `high-memory (over ${HIMEM_MB_PER_CORE} MB a core)`,
  gpu: 'GPU',
};

const WORDS = {
  task: { jobs: 'queued jobs', wait: 'wait', them: 'them' },
  job: { jobs: 'the job', wait: 'waits', them: 'it' },
} as const;

/**
 * Why jobs queued at a site wait there, as one finding: the site is not online, no longer fits
 * them, allows no pilots, has no pilot yet, has only busy pilots — or should start them soon.
 * `of` says whose: a task's queued jobs, or one job.
 */
export function waitingAtSite(f: WaitingFacts, of: keyof typeof WORDS): JobFinding {
  const { site, pilots, queuedJobs, failing, resourceClass } = f;
  const w = WORDS[of];
  const siteId = site.siteId;
  const live = livePilots(pilots);
  if (failing?.filter === 'status' && site.status === 'test')
    return {
      code: 'site-test',
      siteId,
      message: `Site ${siteId} is in test: only its test tasks run there until it is back online, so ${w.jobs} ${w.wait} there.`,
    };
  if (failing?.filter === 'status')
    return {
      code: 'site-offline',
      siteId,
      message: `Site ${siteId} is ${site.status}: its pilot factory starts no pilots, so ${w.jobs} ${w.wait} there.`,
    };
  if (failing !== undefined)
    return {
      code: 'no-pilot-of-class',
      siteId,
      message: `No pilot at ${siteId} can run ${w.them}: ${failing.reason}; ${w.jobs} ${w.wait} until the site's slots change.`,
    };
  // Pilots of a census that knows classes, none of which can run this class.
  const ofClass = resourceClass === undefined ? undefined : pilots.classes?.[resourceClass];
  if (live > 0 && resourceClass !== undefined && pilots.classes !== undefined && (ofClass ?? 0) === 0)
    return {
      code: 'no-pilot-of-class',
      siteId,
      message: `None of the ${live} pilots at ${siteId} can run ${CLASS_WORDS[resourceClass]} jobs: ${w.jobs} ${w.wait} in the site's ${resourceClass} queue (${queuedJobs} jobs) for a pilot that offers enough.`,
    };
  if (site.maxPilots === 0)
    return { code: 'site-no-pilots', siteId, message: `Site ${siteId} allows no pilots (maxPilots 0).` };
  if (live === 0)
    return {
      code: 'no-pilots',
      siteId,
      message: `No pilot is running at ${siteId}: ${queuedJobs} job messages wait for its pilot factory to start pilots (up to ${site.maxPilots}).`,
    };
  if (pilots.idle + pilots.starting === 0)
    return {
      code: 'pilots-busy',
      siteId,
      message: `All ${live} pilots at ${siteId} are busy (cap ${site.maxPilots}); ${queuedJobs} job messages wait their turn, first in first out.`,
    };
  return {
    code: 'pilots-idle',
    siteId,
    message: `${pilots.idle + pilots.starting} pilots at ${siteId} are idle or starting: ${w.jobs} should start within a poll.`,
  };
}
