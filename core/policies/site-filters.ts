/**
 * The site filter chain of brokerage, one small function per filter. Each looks at one site for
 * one task and says `pass`, or why not: in words and in fields. The chain stops at a site's first
 * rejection. Hard filters say whether the site can run the jobs at all; soft filters (no pilots
 * allowed, queue full, recent failures) say it should not get more now, and are waived when they
 * would leave no site.
 */

import type { DataCloseness } from '../catalog/task-inputs.ts';
import { describeShortfall, resourceShortfall } from '../sites/resource-fit.ts';
import { DEFAULT_ARCH, maxQueuedOf, type SiteRecord } from '../sites/site.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import type { FilterName, RejectionDetail } from './brokerage-decision.ts';

/**
 * What site health records of a site's recent attempts, when it is on the site record
 * (`site.recent`); brokerage works without it.
 */
export interface SiteHealthFacts {
  /** Failed attempts of the recent ones, 0..1. */
  failureRate?: number;
  /** Recent attempts the rate is computed over. */
  attempts?: number;
  /** Jobs finished per minute recently. */
  finishedPerMin?: number;
}

export type BrokerSite = SiteRecord & { recent?: SiteHealthFacts };

/** One site as brokerage sees it: its record and, when read, the job messages in its queue. */
export interface SiteFacts {
  site: BrokerSite;
  /** Messages waiting in the site's queue (read only for sites that pass the hard filters). */
  queuedJobs?: number;
  /** A dataset task: how much of its resolved files is close to the site (data-aware brokerage). */
  data?: SiteData;
}

/** What a dataset task's files are to one site. */
export interface SiteData {
  /** The task's `inputs.dataset`. */
  dataset: string;
  remoteRead: boolean;
  closeness: DataCloseness;
}

export interface FilterOptions {
  /** A site whose recent attempts failed more than this (0..1) is rejected (soft)… */
  maxFailureRate: number;
  /** …when the rate is over at least this many attempts. */
  minAttempts: number;
}

export const DEFAULT_FILTER_OPTIONS: FilterOptions = { maxFailureRate: 0.5, minAttempts: 10 };

export type FilterVerdict = 'pass' | { reason: string; details: Record<string, RejectionDetail> };

export type SiteFilter = (spec: TaskSpec, facts: SiteFacts, options: FilterOptions) => FilterVerdict;

function reject(reason: string, details: Record<string, RejectionDetail>): FilterVerdict {
  return { reason, details };
}

/** A site in test takes only its test tasks (spec.siteTest), and they go nowhere else. */
export const statusFilter: SiteFilter = (spec, { site }) => {
  if (spec.siteTest === true && site.status !== 'test')
    return reject('test tasks go only to sites in test', { status: site.status, siteTest: true });
  if (site.status !== 'online' && !(site.status === 'test' && spec.siteTest === true))
    return reject(`site is ${site.status}`, { status: site.status });
  return 'pass';
};

/** The user's sites.allow and sites.deny. */
export const listsFilter: SiteFilter = (spec, { site }) => {
  if (spec.sites.allow !== undefined && !spec.sites.allow.includes(site.siteId))
    return reject('not in sites.allow', { list: 'allow' });
  if (spec.sites.deny.includes(site.siteId)) return reject('in sites.deny', { list: 'deny' });
  return 'pass';
};

/** Cores, memory, walltime and disk of one slot (the rule claims use too). */
export const resourcesFilter: SiteFilter = (spec, { site }) => {
  const shortfall = resourceShortfall(spec.resources, site.slot);
  if (shortfall === undefined) return 'pass';
  return reject(describeShortfall(shortfall, 'slots have'), { ...shortfall });
};

/** GPUs, CPU architecture and the tags the job needs of a site. */
export const featuresFilter: SiteFilter = (spec, { site }) => {
  const { resources } = spec;
  const gpus = resources.gpus ?? 0;
  const slotGpus = site.slot.gpus ?? 0;
  if (gpus > slotGpus)
    return reject(`needs ${gpus} GPU${gpus === 1 ? '' : 's'}, slots have ${slotGpus}`, {
      resource: 'gpus',
      needs: gpus,
      offers: slotGpus,
    });
  const arch = site.slot.arch ?? DEFAULT_ARCH;
  if (resources.arch !== undefined && resources.arch !== arch)
    return reject(`needs ${resources.arch}, slots are ${arch}`, {
      resource: 'arch',
      needs: resources.arch,
      offers: arch,
    });
  const missing = (resources.tags ?? []).filter((tag) => !site.tags.includes(tag));
  if (missing.length > 0)
    return reject(`lacks tag${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`, { missing });
  return 'pass';
};

/**
 * A dataset task without remote read goes only to sites close to a complete replica of its
 * files: dispatch releases any job of the task to any of its sites, so a site must hold them all.
 * With remote read every site passes (the weights prefer close ones).
 */
export const dataFilter: SiteFilter = (_spec, { data }) => {
  if (data === undefined || data.remoteRead) return 'pass';
  const c = data.closeness;
  if (c.files === 0 || c.closeFiles === c.files) return 'pass';
  const where = c.endpoints.length === 0 ? '' : ` (at ${c.endpoints.join(', ')})`;
  return reject(
    c.closeFiles === 0
      ? `0/${c.files} files of ${data.dataset} close, remote read not allowed`
      : `only ${c.closeFiles}/${c.files} files of ${data.dataset} close${where}, remote read not allowed: a site must hold them all`,
    {
      dataset: data.dataset,
      files: c.files,
      closeFiles: c.closeFiles,
      endpoints: c.endpoints,
      remoteRead: false,
    },
  );
};

/** Soft: a site that allows no pilots now (an operator's drain) runs nothing until it does. */
export const capacityFilter: SiteFilter = (_spec, { site }) =>
  site.maxPilots === 0 ? reject('allows no pilots (maxPilots 0)', { maxPilots: 0 }) : 'pass';

/** Soft: a site whose queue holds its maxQueued jobs already (when its depth was read). */
export const queueFilter: SiteFilter = (_spec, { site, queuedJobs }) => {
  const maxQueued = maxQueuedOf(site);
  if (queuedJobs === undefined || queuedJobs < maxQueued) return 'pass';
  return reject(`queue full: ${queuedJobs} jobs waiting, maxQueued ${maxQueued}`, { queuedJobs, maxQueued });
};

/** Soft: a site whose recent attempts failed above the threshold (from site health, when recorded). */
export const failuresFilter: SiteFilter = (_spec, { site }, options) => {
  const rate = site.recent?.failureRate;
  const attempts = site.recent?.attempts ?? 0;
  if (rate === undefined || attempts < options.minAttempts || rate <= options.maxFailureRate) return 'pass';
  return reject(
    `${percent(rate)} of its last ${attempts} attempts failed (more than ${percent(options.maxFailureRate)})`,
    { failureRate: rate, attempts, maxFailureRate: options.maxFailureRate },
  );
};

function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export interface ChainLink {
  name: FilterName;
  soft: boolean;
  filter: SiteFilter;
}

/** The chain in order (the order of FILTER_NAMES): hard filters first, then the soft ones. */
export const FILTER_CHAIN: readonly ChainLink[] = [
  { name: 'status', soft: false, filter: statusFilter },
  { name: 'lists', soft: false, filter: listsFilter },
  { name: 'resources', soft: false, filter: resourcesFilter },
  { name: 'features', soft: false, filter: featuresFilter },
  { name: 'data', soft: false, filter: dataFilter },
  { name: 'capacity', soft: true, filter: capacityFilter },
  { name: 'queue', soft: true, filter: queueFilter },
  { name: 'failures', soft: true, filter: failuresFilter },
];

export const HARD_FILTERS: readonly ChainLink[] = FILTER_CHAIN.filter((link) => !link.soft);
export const SOFT_FILTERS: readonly ChainLink[] = FILTER_CHAIN.filter((link) => link.soft);

/** The first rejection of a site by the links given (by default the hard filters), or undefined. */
export function firstRejection(
  spec: TaskSpec,
  facts: SiteFacts,
  options: FilterOptions = DEFAULT_FILTER_OPTIONS,
  links: readonly ChainLink[] = HARD_FILTERS,
): { filter: FilterName; reason: string; details: Record<string, RejectionDetail> } | undefined {
  for (const link of links) {
    const verdict = link.filter(spec, facts, options);
    if (verdict !== 'pass') return { filter: link.name, ...verdict };
  }
  return undefined;
}
