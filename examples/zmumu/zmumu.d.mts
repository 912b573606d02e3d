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
export const Z_MASS: number;
export const Z_WIDTH: number;
export const MUON_MASS: number;
export const HISTOGRAM: { bins: number; low: number; high: number };
export const CUTS: { ptMin: number; etaMax: number };
export function generateEvent(eventNumber: number, seed?: number): { trueMass: number; muons: [Muon, Muon] };
export function runZmumu(options: { firstEvent: number; nEvents: number; seed?: number }): ZmumuHistogram;
