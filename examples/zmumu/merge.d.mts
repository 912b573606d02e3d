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
export interface MergedHistogram extends Histogram {
  parts: number;
}
export function mergeHistograms(histograms: Histogram[]): MergedHistogram;
export function peakPosition(
  histogram: Pick<Histogram, 'bins' | 'low' | 'high' | 'counts'>,
  halfWindow?: number,
): number;
export function textHistogram(
  histogram: Pick<Histogram, 'bins' | 'low' | 'high' | 'counts'>,
  maxBar?: number,
): string;
