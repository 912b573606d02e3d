export interface Histogram {
  bins: number;
  low: number;
  high: number;
  counts: number[];
  entries: number;
  selected: number;
  mean: number;
  rms: number;
  firstEvent: number;
  nEvents: number;
}
export interface MergedHistogram extends Omit<Histogram, 'firstEvent' | 'nEvents'> {
  /** Absent when no part named its event range (the chain's histogram.json). */
  firstEvent?: number;
  nEvents?: number;
  parts: number;
}
/** Histograms without firstEvent/nEvents (the chain's) are added too; their events are not counted. */
export function mergeHistograms(
  histograms: Array<Omit<Histogram, 'firstEvent' | 'nEvents'> & { firstEvent?: number; nEvents?: number }>,
): MergedHistogram;
export function peakPosition(
  histogram: Pick<Histogram, 'bins' | 'low' | 'high' | 'counts'>,
  halfWindow?: number,
): number;
export function textHistogram(
  histogram: Pick<Histogram, 'bins' | 'low' | 'high' | 'counts'>,
  maxBar?: number,
): string;
