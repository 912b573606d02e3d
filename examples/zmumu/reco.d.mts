import type { Muon, TruthEvent } from './zmumu.mjs';

/** One line of reco.jsonl: a selected event with its reconstructed muons and dimuon mass. */
export interface RecoEvent {
  event: number;
  mass: number;
  muons: [Muon, Muon];
}
export function reconstructEvent(truth: TruthEvent): RecoEvent | undefined;
export function reconstructEvents(truthEvents: Iterable<TruthEvent>): RecoEvent[];
export function parseJsonLines(text: string, source?: string): unknown[];
export function fileArguments(
  argv: string[],
  defaultOut: string,
): { inputs: string[]; out: string | undefined };
