export interface ZmumuHistogram {
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
  seed: number;
}
export interface Muon {
  pt: number;
  eta: number;
  phi: number;
}
/** One line of `--write-events`: an event at truth level. */
export interface TruthEvent {
  event: number;
  seed: number;
  trueMass: number;
  muons: [Muon, Muon];
}
export interface MassHistogram {
  bins: number;
  low: number;
  high: number;
  counts: number[];
  entries: number;
  mean: number;
  rms: number;
}
export const Z_MASS: number;
export const Z_WIDTH: number;
export const MUON_MASS: number;
export const HISTOGRAM: { bins: number; low: number; high: number };
export const CUTS: { ptMin: number; etaMax: number };
export function truthEvent(eventNumber: number, seed?: number): TruthEvent;
export function smearMuons(truth: Pick<TruthEvent, 'event' | 'muons'> & { seed?: number }): [Muon, Muon];
export function generateEvent(eventNumber: number, seed?: number): { trueMass: number; muons: [Muon, Muon] };
export function passesCuts(muon: Muon): boolean;
export function dimuonMass(muons: readonly [Muon, Muon]): number;
export function fillMassHistogram(masses: Iterable<number>): MassHistogram;
export function runZmumu(options: { firstEvent: number; nEvents: number; seed?: number }): ZmumuHistogram;
export function truthEventLines(options: { firstEvent: number; nEvents: number; seed?: number }): string;
