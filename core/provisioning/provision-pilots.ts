import { roundUsd } from '../accounting/usage.ts';
/**
 * The cloud provisioner (Harvester's and HEPCloud's role): once a cycle, for every site with
 * provisioning, the demand rule of `gluon-pilot factory` (queued work by resource class, live
 * pilots, caps) turned into EC2 capacity (CreateFleet, Spot first where allowed) or AWS Batch array
 * jobs of pilots, within the site's caps and hourly spend. Every site's decision is recorded
 * (SiteStore.recordProvisioning) and shown by `gluon sites` and `gluon why`. A site whose cloud
 * says no gets a decision with the error; the other sites are not held up.
 */
import type { Deps } from '../deps.ts';
import { DEFAULT_ARCH, livePilots, type SiteRecord } from '../sites/site.ts';
import { demandOf } from '../sites/site-demand.ts';
import type { BatchProvisioning, Ec2Provisioning } from './cloud-site.ts';
import {
  type FleetPlan,
  marketsOf,
  type PriceBook,
  planBatch,
  planFleet,
  priceKey,
  weightedTypes,
} from './plan-capacity.ts';
import type { BatchPilots, CloudInstance, Ec2Fleet } from './ports.ts';
import { batchPilotPrice, hourlyPrice, type InstanceArch, MARKETS } from './prices.ts';
import type { ProvisioningDecision } from './provisioning-decision.ts';
import { CLOUD_TAGS, weightsTag } from './tags.ts';

export interface ProvisionSettings {
  /** The stage's name: tag gluon:stage on everything started (the stack's IAM allows only that). */
  stage: string;
  /** AWS Batch job queues (names or ARNs) the stage allows; a site naming another gets an error. */
  batchJobQueues: string[];
}

export type ProvisionDeps = Pick<Deps, 'sites' | 'queue' | 'clock'> & { ec2: Ec2Fleet; batch: BatchPilots };

export interface ProvisionReport {
  sites: number;
  /** Instances (ec2) and pilot jobs (batch) started in all. */
  started: number;
  /** Sites whose decision carries errors. */
  errors: Array<{ siteId: string; errors: string[] }>;
}

type Provisioned = SiteRecord & { provisioning: NonNullable<SiteRecord['provisioning']> };

/** One cycle over every site with provisioning; a site's failure is in its decision, never thrown. */
export async function provisionPilots(
  deps: ProvisionDeps,
  settings: ProvisionSettings,
): Promise<ProvisionReport> {
  const at = deps.clock.now().toISOString();
  const sites = (await deps.sites.list()).filter((s): s is Provisioned => s.provisioning !== undefined);
  const report: ProvisionReport = { sites: sites.length, started: 0, errors: [] };
  await Promise.all(
    sites.map(async (site) => {
      let decision: ProvisioningDecision;
      try {
        decision = await decideSite(deps, settings, site, at);
      } catch (error) {
        // A read of our own stores failed (the queue's depth, …): recorded as the site's error too.
        decision = refused(emptyDecision(site, at), errorMessage(error));
      }
      report.started += decision.started;
      if (decision.errors.length > 0) report.errors.push({ siteId: site.siteId, errors: decision.errors });
      await deps.sites.recordProvisioning(site.siteId, decision);
    }),
  );
  return report;
}

/** What went wrong, in words (an SDK error's message, or what was thrown). */
function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function emptyDecision(site: Provisioned, at: string): ProvisioningDecision {
  return {
    siteId: site.siteId,
    at,
    type: site.provisioning.type,
    queuedJobs: 0,
    pilotsWanted: 0,
    pending: 0,
    running: 0,
    slots: 0,
    hourlyUsd: 0,
    requested: [],
    started: 0,
    limitedBy: 'none',
    prices: {},
    errors: [],
    summary: '',
  };
}

async function decideSite(
  deps: ProvisionDeps,
  settings: ProvisionSettings,
  site: Provisioned,
  at: string,
): Promise<ProvisioningDecision> {
  const { provisioning } = site;
  return provisioning.type === 'ec2'
    ? decideEc2(deps, settings, { ...site, provisioning }, at)
    : decideBatch(deps, settings, { ...site, provisioning }, at);
}

/** Nothing asked because the cloud (or our own stores) refused: the decision says what. */
function refused(decision: ProvisioningDecision, message: string): ProvisioningDecision {
  return { ...decision, limitedBy: 'error', errors: [message], summary: `Nothing asked: ${message}.` };
}

/** An offline site asks for nothing (what it has keeps running until its pilots go idle). */
function offline(decision: ProvisioningDecision, what: string): ProvisioningDecision {
  return {
    ...decision,
    limitedBy: 'site-status',
    summary: `Nothing asked: the site is offline (${what}).`,
  };
}

async function decideEc2(
  deps: ProvisionDeps,
  settings: ProvisionSettings,
  site: Provisioned & { provisioning: Ec2Provisioning },
  at: string,
): Promise<ProvisioningDecision> {
  const { provisioning } = site;
  const base = emptyDecision(site, at);
  let instances: CloudInstance[];
  try {
    instances = await deps.ec2.listInstances(site.siteId);
  } catch (error) {
    const message = errorMessage(error);
    return refused(base, message);
  }
  const markets = marketsOf(provisioning);
  const types = weightedTypes(provisioning, site.slot);
  const prices = await priceBook(
    deps.ec2,
    [...new Set([...types.map((t) => t.instanceType), ...instances.map((i) => i.instanceType)])],
    markets.includes('spot'),
  );
  const errors: string[] = [];
  if (types.length === 0) errors.push('no instance type of the site fits its slot');
  const describe = (plan: FleetPlan, extra: Partial<ProvisioningDecision> = {}): ProvisioningDecision => ({
    ...base,
    pending: plan.capacity.pending,
    running: plan.capacity.running,
    slots: plan.capacity.slots,
    hourlyUsd: plan.capacity.hourlyUsd,
    prices,
    ...extra,
  });
  const demandSlots = site.status === 'offline' ? undefined : await demandOf(deps, site);
  const live = livePilots(site.census?.pilots ?? { starting: 0, idle: 0, busy: 0, draining: 0 });
  const input = {
    site,
    provisioning,
    pilotsWanted: demandSlots?.pilotsWanted ?? 0,
    livePilots: live,
    instances,
    prices,
  };
  if (demandSlots === undefined) {
    const plan = planFleet(input, markets[0] ?? 'spot');
    return offline(describe(plan), capacityText(plan));
  }
  const requested: ProvisioningDecision['requested'] = [];
  let started = 0;
  let first: FleetPlan | undefined;
  for (const market of markets) {
    const plan = planFleet({ ...input, instances }, market);
    first ??= plan;
    if (plan.targetUnits === 0) break;
    requested.push({
      market,
      count: plan.maxNewInstances,
      slots: plan.targetUnits,
      hourlyUsd: plan.worstHourlyUsd,
    });
    try {
      const outcome = await deps.ec2.createFleet({
        siteId: site.siteId,
        clientToken: `${site.siteId}-${market === 'spot' ? 's' : 'o'}-${Math.floor(Date.parse(at) / 1000)}`,
        market,
        targetUnits: plan.targetUnits,
        overrides: plan.types.flatMap((t, priority) =>
          provisioning.subnets.map((subnetId) => ({
            instanceType: t.instanceType,
            subnetId,
            weight: t.weight,
            priority,
          })),
        ),
        tags: cloudTags(settings, site, provisioning),
        arch: (site.slot.arch ?? DEFAULT_ARCH) as InstanceArch,
      });
      started += outcome.instances.length;
      for (const launched of outcome.instances)
        instances = [...instances, { ...launched, state: 'pending', launchedAt: at }];
      for (const e of outcome.errors)
        errors.push(
          `${market}${e.instanceType === undefined ? '' : ` ${e.instanceType}`}: ${e.code}: ${e.message}`,
        );
    } catch (error) {
      errors.push(`${market}: ${errorMessage(error)}`);
    }
  }
  // The capacity after this cycle's requests (what the next cycle will count).
  const after = planFleet({ ...input, instances }, markets[0] ?? 'spot');
  // What held the cycle back is what capped its first request (the demand and caps as the cycle began).
  const plan = first ?? after;
  const limitedBy = errors.length > 0 && started === 0 ? 'error' : plan.limitedBy;
  const decision = describe(after, {
    queuedJobs: demandSlots.queuedJobs,
    pilotsWanted: demandSlots.pilotsWanted,
    requested,
    started,
    limitedBy,
    errors,
  });
  return { ...decision, summary: ec2Summary(decision, plan, provisioning) };
}

function capacityText(plan: FleetPlan): string {
  const c = plan.capacity;
  return `${c.pending + c.running} instance${c.pending + c.running === 1 ? '' : 's'} (${c.slots} slots, $${c.hourlyUsd}/h)`;
}

function ec2Summary(decision: ProvisioningDecision, plan: FleetPlan, provisioning: Ec2Provisioning): string {
  const have = `${decision.pending + decision.running} instances (${decision.slots} slots, $${decision.hourlyUsd}/h)`;
  const wanted = `${decision.queuedJobs} jobs queued, ${decision.pilotsWanted} pilots wanted`;
  const held = heldText(decision.limitedBy, {
    maxInstances: `maxInstances ${provisioning.maxInstances}`,
    maxHourlyUsd: `maxHourlyUsd $${provisioning.maxHourlyUsd}`,
  });
  if (decision.requested.length === 0) {
    if (decision.limitedBy === 'error') return `Nothing started: ${decision.errors.join('; ')}.`;
    if (decision.limitedBy === 'no-demand')
      return `Nothing asked: no queued work beyond what the site has (${wanted}; ${have}).`;
    return `Nothing asked: ${held} (${wanted}; ${have}).`;
  }
  const asked = decision.requested.map((r) => `${r.slots} slots ${r.market}`).join(', then ');
  const failed = decision.errors.length > 0 ? `; ${decision.errors.join('; ')}` : '';
  const short = plan.slotsWanted > plan.targetUnits ? ` of ${plan.slotsWanted} wanted` : '';
  return `Asked for ${asked}${short}, started ${decision.started} instance${decision.started === 1 ? '' : 's'}${decision.limitedBy === 'none' ? '' : `: ${held}`}${failed} (${wanted}; now ${have}).`;
}

function heldText(limit: ProvisioningDecision['limitedBy'], caps: Record<string, string>): string {
  if (limit === 'maxPilots') return 'held back by the site maxPilots';
  if (limit === 'error') return 'the cloud refused';
  const cap = caps[limit];
  return cap === undefined ? limit : `held back by ${cap}`;
}

/** Prices of the types in both markets: Spot from the price history where it can be read (else the table). */
async function priceBook(ec2: Ec2Fleet, instanceTypes: string[], spot: boolean): Promise<PriceBook> {
  let history: Record<string, { usd: number; at: string }> = {};
  if (spot && instanceTypes.length > 0) {
    try {
      history = await ec2.spotPrices(instanceTypes);
    } catch {
      // The table's prices stand in (the decision's prices say `table`).
    }
  }
  const book: PriceBook = {};
  for (const type of instanceTypes) {
    for (const market of MARKETS) {
      const quote = hourlyPrice(type, market, market === 'spot' ? history[type] : undefined);
      if (quote !== undefined) book[priceKey(type, market)] = quote;
    }
  }
  return book;
}

function cloudTags(
  settings: ProvisionSettings,
  site: SiteRecord,
  provisioning: Ec2Provisioning | BatchProvisioning,
): Record<string, string> {
  return {
    [CLOUD_TAGS.stage]: settings.stage,
    [CLOUD_TAGS.site]: site.siteId,
    [CLOUD_TAGS.pilots]: provisioning.type === 'ec2' ? provisioning.pilots : 'slot',
    [CLOUD_TAGS.slotCores]: String(site.slot.cores),
    [CLOUD_TAGS.slotMemoryMB]: String(site.slot.memoryMB),
    [CLOUD_TAGS.idleExitSec]: String(provisioning.idleExitSec),
    ...optionalTag(
      CLOUD_TAGS.weights,
      provisioning.type === 'ec2' ? weightsTag(provisioning.instanceTypes) : undefined,
    ),
  };
}

function optionalTag(key: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [key]: value };
}

/** Whether the stage allows a job queue: named as listed, or an ARN whose name is listed (or the other way round). */
export function isAllowedJobQueue(jobQueue: string, allowed: string[]): boolean {
  const name = (q: string) => q.replace(/^arn:[^:]*:batch:[^:]*:[^:]*:job-queue\//, '');
  return allowed.some((q) => q === jobQueue || name(q) === name(jobQueue));
}

/** Batch pilot jobs' names: `gluon-pilot-<siteId>_<seconds>_<n>` (no site id has `_`: a prefix names one site). */
export function batchJobPrefix(siteId: string): string {
  return `gluon-pilot-${siteId}_`;
}

async function decideBatch(
  deps: ProvisionDeps,
  settings: ProvisionSettings,
  site: Provisioned & { provisioning: BatchProvisioning },
  at: string,
): Promise<ProvisioningDecision> {
  const { provisioning } = site;
  const price = batchPilotPrice(provisioning, site.slot, at);
  const base = { ...emptyDecision(site, at), prices: { 'pilot/on-demand': price } };
  if (!isAllowedJobQueue(provisioning.jobQueue, settings.batchJobQueues)) {
    const message = `job queue ${provisioning.jobQueue} is not one the stage allows (${settings.batchJobQueues.join(', ') || 'none'})`;
    return refused(base, message);
  }
  let counts: { pending: number; running: number };
  try {
    counts = await deps.batch.countPilots(site.siteId, provisioning.jobQueue);
  } catch (error) {
    const message = errorMessage(error);
    return refused(base, message);
  }
  const now = {
    ...base,
    pending: counts.pending,
    running: counts.running,
    slots: counts.pending + counts.running,
    hourlyUsd: roundUsd((counts.pending + counts.running) * price.hourlyUsd),
  };
  const have = `${now.slots} pilot jobs ($${now.hourlyUsd}/h)`;
  if (site.status === 'offline') return offline(now, have);
  const demand = await demandOf(deps, site);
  const plan = planBatch({
    site,
    provisioning,
    pilotsWanted: demand.pilotsWanted,
    livePilots: livePilots(demand.pilots),
    pending: counts.pending,
    running: counts.running,
    hourlyUsdPerPilot: price.hourlyUsd,
  });
  const errors: string[] = [];
  let started = 0;
  const seconds = Math.floor(Date.parse(at) / 1000);
  for (const [n, size] of plan.arrays.entries()) {
    try {
      await deps.batch.submitArray({
        siteId: site.siteId,
        jobQueue: provisioning.jobQueue,
        jobDefinition: provisioning.jobDefinition,
        size,
        jobName: `${batchJobPrefix(site.siteId)}${seconds}_${n}`,
        environment: {
          GLUON_SITE: site.siteId,
          GLUON_PILOT_CLOUD: 'batch',
          GLUON_IDLE_EXIT_SEC: String(provisioning.idleExitSec),
        },
        tags: cloudTags(settings, site, provisioning),
      });
      started += size;
    } catch (error) {
      errors.push(errorMessage(error));
      break;
    }
  }
  const requested =
    plan.pilots === 0
      ? []
      : [
          {
            market: 'on-demand' as const,
            count: plan.pilots,
            slots: plan.pilots,
            hourlyUsd: roundUsd(plan.pilots * price.hourlyUsd),
          },
        ];
  const limitedBy = errors.length > 0 && started === 0 ? 'error' : plan.limitedBy;
  const wanted = `${demand.queuedJobs} jobs queued, ${demand.pilotsWanted} pilots wanted`;
  const held = heldText(limitedBy, {
    maxHourlyUsd: `maxHourlyUsd $${provisioning.maxHourlyUsd ?? 0}`,
  });
  const failed = errors.length > 0 ? `; ${errors.join('; ')}` : '';
  const summary =
    plan.pilots === 0
      ? limitedBy === 'no-demand'
        ? `Nothing asked: no queued work beyond what the site has (${wanted}; ${have}).`
        : `Nothing asked: ${held} (${wanted}; ${have}).`
      : `Submitted ${started} of ${plan.pilots} pilots in ${plan.arrays.length} array job${plan.arrays.length === 1 ? '' : 's'}${limitedBy === 'none' ? '' : `: ${held}`}${failed} (${wanted}; had ${have}).`;
  return {
    ...now,
    queuedJobs: demand.queuedJobs,
    pilotsWanted: demand.pilotsWanted,
    requested,
    started,
    limitedBy,
    errors,
    summary,
  };
}
