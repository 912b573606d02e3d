/**
 * The record of one brokerage decision, stored with its task when the task is split (and before
 * a split that found no site fails the task): every site it looked at, why each rejected site was
 * rejected (the filter and its reason, in words and in fields), and the weights of the chosen
 * sites with what they were computed from. `gluon why` shows it.
 */
import { z } from 'zod';

/** The filter chain, in the order it runs (core/policies/site-filters.ts). */
export const FILTER_NAMES = [
  'status',
  'lists',
  'resources',
  'features',
  'data',
  'capacity',
  'queue',
  'failures',
] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

/** A structured fact behind a rejection: a number compared, a state, the tags missing. */
export const RejectionDetailSchema = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);
export type RejectionDetail = z.infer<typeof RejectionDetailSchema>;

export const SiteRejectionSchema = z.object({
  siteId: z.string(),
  filter: z.enum(FILTER_NAMES),
  /** In words, e.g. "needs 4000 MB memory, slots have 2000". */
  reason: z.string(),
  /** The same in fields, e.g. {resource: "memoryMB", needs: 4000, offers: 2000}. */
  details: z.record(z.string(), RejectionDetailSchema),
});
export type SiteRejection = z.infer<typeof SiteRejectionSchema>;

/** What a chosen site's weight was computed from (core/policies/site-weights.ts). */
export const WeightInputsSchema = z.object({
  maxPilots: z.number().int().nonnegative(),
  /** Pilots busy or draining at the last census: slots taken. */
  busyPilots: z.number().int().nonnegative(),
  /** maxPilots less the busy pilots: slots free or about to be (idle and starting pilots are free). */
  freePilots: z.number().int().nonnegative(),
  /** Job messages waiting in the site's queue. */
  queuedJobs: z.number().int().nonnegative(),
  /** Jobs finished per minute recently, when site health records it. */
  throughputPerMin: z.number().nonnegative().optional(),
  /** The site's throughput per pilot against the other sites' median, within 0.5..2; 1 when unknown. */
  throughputFactor: z.number().positive(),
  /**
   * A dataset task read remotely: 0.25 for a site close to none of its bytes up to 1 for one close
   * to all, so close sites get more of the jobs.
   */
  dataFactor: z.number().positive().optional(),
});
export type WeightInputs = z.infer<typeof WeightInputsSchema>;

export const ChosenSiteSchema = z.object({
  siteId: z.string(),
  /** The site's part of the task's jobs, 0..1; the chosen sites' weights add up to 1. */
  weight: z.number().nonnegative(),
  /** The weight in whole parts (of about 1000), as the jobs are spread (site-assignment.ts). */
  share: z.number().int().positive(),
  inputs: WeightInputsSchema,
});
export type ChosenSite = z.infer<typeof ChosenSiteSchema>;

/** One site's view of a dataset task's files: close files and bytes, and the endpoints that decided. */
export const SiteDataSchema = z.object({
  siteId: z.string(),
  closeFiles: z.number().int().nonnegative(),
  closeBytes: z.number().int().nonnegative(),
  endpoints: z.array(z.string()),
});

export const DataDecisionSchema = z.object({
  dataset: z.string(),
  remoteRead: z.boolean(),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** In site id order (at most MAX_RECORDED_REJECTIONS). */
  sites: z.array(SiteDataSchema),
});
export type DataDecision = z.infer<typeof DataDecisionSchema>;

export const BrokerageDecisionSchema = z.object({
  /** When brokerage ran. */
  at: z.string(),
  /** Sites looked at: every site defined then. */
  sitesConsidered: z.number().int().nonnegative(),
  /** In site id order: the order of the task's siteIds. */
  chosen: z.array(ChosenSiteSchema),
  /** Each rejected site with the first filter that rejected it, in site id order. */
  rejected: z.array(SiteRejectionSchema),
  /**
   * Soft rejections (no pilots allowed, queue full, recent failures) not applied because they would have left no
   * site: the sites are chosen all the same, and this says what held against them.
   */
  waived: z.array(SiteRejectionSchema),
  /** Rejected sites left out of `rejected` to keep the record bounded (MAX_RECORDED_REJECTIONS). */
  rejectedOmitted: z.number().int().positive().optional(),
  /** A dataset task: how much of its files each site looked at is close to it, and where. */
  data: DataDecisionSchema.optional(),
});
export type BrokerageDecision = z.infer<typeof BrokerageDecisionSchema>;

/** Rejections kept in one record (a few hundred bytes each: far inside a 400 KB item). */
export const MAX_RECORDED_REJECTIONS = 500;
