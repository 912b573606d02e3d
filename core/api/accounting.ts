/** The accounting routes' queries and answers: roll-ups by day × user, group or site, and the daily export. */
import { z } from 'zod';
import { ACCOUNTING_BY, DaySchema } from '../accounting/usage.ts';

export const AccountingQuerySchema = z.strictObject({
  by: z.enum(ACCOUNTING_BY).default('user'),
  /** First day (UTC) included; left out: six days before `to`. */
  from: DaySchema.optional(),
  /** Last day (UTC) included; left out: today. */
  to: DaySchema.optional(),
});
export type AccountingQuery = z.infer<typeof AccountingQuerySchema>;

export const RollupRowSchema = z.object({
  day: z.string(),
  /** The user, group or site. */
  key: z.string(),
  attempts: z.number().int(),
  finished: z.number().int(),
  /** Attempts failed, lost, evicted or abandoned (cancelled ones count in neither). */
  failed: z.number().int(),
  /** Cores × wall time held, in seconds. */
  coreSec: z.number(),
  wallSec: z.number(),
  cpuSec: z.number(),
  /** CPU time × the site's HEPscore23 per core, where sites define the factor. */
  hs23Sec: z.number().optional(),
  /** The largest resident memory of one attempt. */
  maxRssMB: z.number(),
  /** What the attempts at paid (cloud) sites cost, USD: their wall time at their pilots' hourly prices. */
  costUsd: z.number().optional(),
  /** costUsd over the finished attempts: compute dollars per finished job (when both are there). */
  usdPerJob: z.number().optional(),
});

export const AccountingViewSchema = z.object({
  by: z.enum(ACCOUNTING_BY),
  from: z.string(),
  to: z.string(),
  rows: z.array(RollupRowSchema),
});
export type AccountingView = z.infer<typeof AccountingViewSchema>;

export const ExportAccountingRequestSchema = z.strictObject({
  /** The UTC day whose usage records are written; left out: yesterday. */
  day: DaySchema.optional(),
});

export const ExportAccountingResponseSchema = z.object({
  day: z.string(),
  /** Usage records written (a day without any is written as a CSV header alone, and no Parquet). */
  records: z.number().int(),
  bucket: z.string(),
  csvKey: z.string(),
  parquetKey: z.string().optional(),
});
export type ExportAccountingResponse = z.infer<typeof ExportAccountingResponseSchema>;
