import type { MassHistogram, TruthEvent } from './zmumu.mjs';

/** histogram.json of the chain: the mass histogram, how many events were read, and their first and last numbers. */
export interface ChainHistogram extends MassHistogram {
  selected: number;
  events: [] | [number, number];
}
export function histogramOfEvents(events: Iterable<{ event: number; mass: number }>): ChainHistogram;
export function directHistogram(truthEvents: Iterable<TruthEvent>): ChainHistogram;
export function sameHistogram(
  a: Pick<ChainHistogram, 'bins' | 'low' | 'high' | 'counts' | 'entries' | 'selected' | 'mean' | 'rms'>,
  b: Pick<ChainHistogram, 'bins' | 'low' | 'high' | 'counts' | 'entries' | 'selected' | 'mean' | 'rms'>,
): boolean;
