#!/usr/bin/env node
// Toy Z → μμ generation and analysis, the payload of the Gluon demo task.
//
// For each event n in [firstEvent, firstEvent + nEvents) it draws, from a PRNG seeded with n (so
// every event is the same however the task is split into jobs):
//   - the dimuon mass from a relativistic Breit–Wigner (mZ 91.1876 GeV, ΓZ 2.4952 GeV), 50–150 GeV,
//   - the Z transverse momentum (a Gamma(2) distribution, mean 8 GeV) and rapidity (Gaussian, σ 1.8),
//   - an isotropic decay to two muons in the Z rest frame, boosted to the lab,
// then smears each muon (σ(pT)/pT = 1% ⊕ 0.01% × pT; η and φ by 0.001), keeps events with both muons
// at pT > 20 GeV and |η| < 2.4, and fills the dimuon mass into 60 bins from 60 to 120 GeV.
//
// Usage: node zmumu.mjs --first-event N --n-events N [--out histogram.json] [--seed S]
// (GLUON_FIRST_EVENT / GLUON_N_EVENTS when the options are absent or empty). Plain JavaScript,
// no dependencies, Node 20 or newer.
//
// Generation only (the first step of chain.yaml): `--write-events events.jsonl` writes the
// truth-level events instead, one JSON line each (event number, seed, Z mass, both muons' pT/η/φ);
// reco.mjs smears and selects them, histogram.mjs fills the histogram. The smearing draws from its
// own stream, seeded by the event number, so that chain gives exactly this script's histogram.
//
// Stream mode (an event-service consumer, pilot/README.md "Event service"): with GLUON_RANGES_FIFO
// and GLUON_RESULTS_FIFO set, it reads one range a line from the first, writes the range's
// histogram to the `output` path the line names, and answers on the second; only --seed applies.
// Events are seeded by their number, so a range run again gives the same histogram.
import { closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

export const Z_MASS = 91.1876;
export const Z_WIDTH = 2.4952;
export const MUON_MASS = 0.1056584;
export const HISTOGRAM = { bins: 60, low: 60, high: 120 };
export const CUTS = { ptMin: 20, etaMax: 2.4 };
const MASS_RANGE = [50, 150];

/** splitmix32-style hash: a well-mixed 32-bit seed from the event number and the run seed. */
function mixSeed(eventNumber, seed) {
  let h =
    (Math.imul(eventNumber >>> 0, 0x9e3779b9) ^ Math.imul(Math.floor(eventNumber / 2 ** 32), 0x85ebca6b)) >>>
    0;
  h = (h ^ Math.imul(seed >>> 0, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

/** mulberry32: small, fast, good enough for a toy. Returns uniforms in (0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

function gaussian(rand) {
  return Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
}

/** Mass from a relativistic Breit–Wigner in s = m², restricted to MASS_RANGE by inverting its CDF. */
function breitWignerMass(rand) {
  const m2 = Z_MASS * Z_MASS;
  const mg = Z_MASS * Z_WIDTH;
  const lo = Math.atan((MASS_RANGE[0] ** 2 - m2) / mg);
  const hi = Math.atan((MASS_RANGE[1] ** 2 - m2) / mg);
  const s = m2 + mg * Math.tan(lo + (hi - lo) * rand());
  return Math.sqrt(s);
}

/** Boosts four-vector [E, px, py, pz] by velocity b = [bx, by, bz]. */
function boost([e, px, py, pz], [bx, by, bz]) {
  const b2 = bx * bx + by * by + bz * bz;
  if (b2 === 0) return [e, px, py, pz];
  const gamma = 1 / Math.sqrt(1 - b2);
  const bp = bx * px + by * py + bz * pz;
  const k = ((gamma - 1) * bp) / b2 + gamma * e;
  return [gamma * (e + bp), px + k * bx, py + k * by, pz + k * bz];
}

/** (pT, η, φ) of a four-vector. */
function ptEtaPhi([, px, py, pz]) {
  const pt = Math.hypot(px, py);
  return { pt, eta: Math.asinh(pz / pt), phi: Math.atan2(py, px) };
}

function fourVector({ pt, eta, phi }, mass) {
  const px = pt * Math.cos(phi);
  const py = pt * Math.sin(phi);
  const pz = pt * Math.sinh(eta);
  return [Math.sqrt(px * px + py * py + pz * pz + mass * mass), px, py, pz];
}

function invariantMass(a, b) {
  const e = a[0] + b[0];
  const px = a[1] + b[1];
  const py = a[2] + b[2];
  const pz = a[3] + b[3];
  return Math.sqrt(Math.max(0, e * e - px * px - py * py - pz * pz));
}

function smear(muon, rand) {
  const resolution = Math.hypot(0.01, 1e-4 * muon.pt);
  return {
    pt: muon.pt * Math.max(0.01, 1 + resolution * gaussian(rand)),
    eta: muon.eta + 0.001 * gaussian(rand),
    phi: muon.phi + 0.001 * gaussian(rand),
  };
}

/** The smearing's own random stream for an event, so that reconstruction needs only the event. */
function smearingRandom(eventNumber, seed) {
  return prng(mixSeed(eventNumber, seed) ^ 0x5bd1e995);
}

/**
 * One event at truth level: the Z mass and its two muons in the lab, before any detector effect.
 * `{ event, seed, trueMass, muons: [{ pt, eta, phi }, { pt, eta, phi }] }` is also the line
 * `--write-events` writes.
 */
export function truthEvent(eventNumber, seed = 1) {
  const rand = prng(mixSeed(eventNumber, seed));
  const mass = breitWignerMass(rand);
  const zPt = -4 * Math.log(rand() * rand());
  const zY = 1.8 * gaussian(rand);
  const zPhi = 2 * Math.PI * rand();
  const mt = Math.hypot(mass, zPt);
  const z = [mt * Math.cosh(zY), zPt * Math.cos(zPhi), zPt * Math.sin(zPhi), mt * Math.sinh(zY)];
  const beta = [z[1] / z[0], z[2] / z[0], z[3] / z[0]];
  const p = Math.sqrt(Math.max(0, (mass * mass) / 4 - MUON_MASS * MUON_MASS));
  const cosTheta = 2 * rand() - 1;
  const sinTheta = Math.sqrt(1 - cosTheta * cosTheta);
  const phi = 2 * Math.PI * rand();
  const dir = [sinTheta * Math.cos(phi), sinTheta * Math.sin(phi), cosTheta];
  const e = mass / 2;
  const mu1 = boost([e, p * dir[0], p * dir[1], p * dir[2]], beta);
  const mu2 = boost([e, -p * dir[0], -p * dir[1], -p * dir[2]], beta);
  return { event: eventNumber, seed, trueMass: mass, muons: [ptEtaPhi(mu1), ptEtaPhi(mu2)] };
}

/** The detector's view of a truth event's muons: each smeared, from the event's own stream. */
export function smearMuons({ event, seed = 1, muons }) {
  const rand = smearingRandom(event, seed);
  return muons.map((muon) => smear(muon, rand));
}

/** One event: the two smeared muons in the lab. */
export function generateEvent(eventNumber, seed = 1) {
  const truth = truthEvent(eventNumber, seed);
  return { trueMass: truth.trueMass, muons: smearMuons(truth) };
}

/** Whether a reconstructed muon passes the selection (CUTS). */
export function passesCuts(muon) {
  return muon.pt > CUTS.ptMin && Math.abs(muon.eta) < CUTS.etaMax;
}

/** The invariant mass of two muons given as (pT, η, φ). */
export function dimuonMass([a, b]) {
  return invariantMass(fourVector(a, MUON_MASS), fourVector(b, MUON_MASS));
}

/**
 * Fills dimuon masses, in the order given, into the HISTOGRAM bins; mean and rms are of the masses
 * inside the range.
 */
export function fillMassHistogram(masses) {
  const { bins, low, high } = HISTOGRAM;
  const counts = new Array(bins).fill(0);
  let entries = 0;
  let sum = 0;
  let sumSq = 0;
  for (const mass of masses) {
    if (!(mass >= low && mass < high)) continue;
    counts[Math.floor(((mass - low) / (high - low)) * bins)] += 1;
    entries += 1;
    sum += mass;
    sumSq += mass * mass;
  }
  const mean = entries > 0 ? sum / entries : 0;
  const rms = entries > 0 ? Math.sqrt(Math.max(0, sumSq / entries - mean * mean)) : 0;
  return { bins, low, high, counts, entries, mean, rms };
}

/** Generates and analyses events [firstEvent, firstEvent + nEvents) into a dimuon mass histogram. */
export function runZmumu({ firstEvent, nEvents, seed = 1 }) {
  const masses = [];
  for (let n = firstEvent; n < firstEvent + nEvents; n++) {
    const { muons } = generateEvent(n, seed);
    if (muons.every(passesCuts)) masses.push(dimuonMass(muons));
  }
  const { bins, low, high, counts, entries, mean, rms } = fillMassHistogram(masses);
  return { bins, low, high, counts, entries, selected: masses.length, mean, rms, firstEvent, nEvents, seed };
}

/** Truth events [firstEvent, firstEvent + nEvents) as JSON lines (the chain's generation step). */
export function truthEventLines({ firstEvent, nEvents, seed = 1 }) {
  const lines = [];
  for (let n = firstEvent; n < firstEvent + nEvents; n++) lines.push(JSON.stringify(truthEvent(n, seed)));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function parseArgs(argv, env) {
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = inline ?? argv[++i];
    if (
      !['--first-event', '--n-events', '--out', '--seed', '--write-events'].includes(name) ||
      value === undefined
    ) {
      throw new Error(
        `unexpected argument ${arg} (usage: --first-event N --n-events N [--out FILE | --write-events FILE] [--seed S])`,
      );
    }
    options[name.slice(2)] = value;
  }
  const integer = (label, ...candidates) => {
    const text = candidates.find((c) => c !== undefined && c !== '');
    if (text === undefined) throw new Error(`${label} is required (option or environment variable)`);
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`${label} must be a whole number ≥ 0, not ${text}`);
    return n;
  };
  return {
    firstEvent: integer('--first-event / GLUON_FIRST_EVENT', options['first-event'], env.GLUON_FIRST_EVENT),
    nEvents: integer('--n-events / GLUON_N_EVENTS', options['n-events'], env.GLUON_N_EVENTS),
    seed: integer('--seed', options.seed, '1'),
    out: options.out || 'histogram.json',
    ...(options['write-events'] ? { writeEvents: options['write-events'] } : {}),
  };
}

/** Stream mode: ranges in, one histogram and one answer per range out, until `{"end":true}` or EOF. */
async function streamMain(rangesFifo, resultsFifo, seed) {
  const results = openSync(resultsFifo, 'w');
  const answer = (result) => writeSync(results, `${JSON.stringify(result)}\n`);
  // A socket, not an fs stream: fs streams read a pipe on the thread pool, and a Node process with
  // such a read pending cannot exit (not even with process.exit) until the pilot closes the pipe.
  const fd = openSync(rangesFifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const input = new Socket({ fd, readable: true, writable: false });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const range = JSON.parse(line);
    if (range.end) break;
    try {
      const histogram = runZmumu({ firstEvent: range.firstEvent, nEvents: range.nEvents, seed });
      writeFileSync(range.output, `${JSON.stringify(histogram)}\n`);
      process.stdout.write(
        `zmumu: range ${range.rangeIndex}, events ${range.firstEvent}-${range.lastEvent}: ${histogram.entries} entries\n`,
      );
      answer({ rangeIndex: range.rangeIndex, ok: true });
    } catch (error) {
      answer({ rangeIndex: range.rangeIndex, ok: false, error: error.message });
    }
  }
  lines.close();
  input.destroy();
  closeSync(results);
}

function streamSeed(argv) {
  const i = argv.indexOf('--seed');
  const seed = i < 0 ? 1 : Number(argv[i + 1]);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a whole number ≥ 0`);
  return seed;
}

function main() {
  const { GLUON_RANGES_FIFO: rangesFifo, GLUON_RESULTS_FIFO: resultsFifo } = process.env;
  if (rangesFifo && resultsFifo) {
    streamMain(rangesFifo, resultsFifo, streamSeed(process.argv.slice(2))).catch((error) => {
      process.stderr.write(`zmumu: ${error.message}\n`);
      process.exit(1);
    });
    return;
  }
  let args;
  try {
    args = parseArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`zmumu: ${error.message}\n`);
    process.exit(2);
  }
  const started = performance.now();
  if (args.writeEvents !== undefined) {
    writeFileSync(resolve(args.writeEvents), truthEventLines(args));
    process.stdout.write(
      `zmumu: events ${args.firstEvent}-${args.firstEvent + args.nEvents - 1} generated ` +
        `(${(performance.now() - started).toFixed(0)} ms) -> ${args.writeEvents}\n`,
    );
    return;
  }
  const histogram = runZmumu(args);
  const out = resolve(args.out);
  writeFileSync(out, `${JSON.stringify(histogram)}\n`);
  const last = args.firstEvent + args.nEvents - 1;
  process.stdout.write(
    `zmumu: events ${args.firstEvent}-${last}: ${histogram.selected} selected, ${histogram.entries} in ` +
      `${HISTOGRAM.low}-${HISTOGRAM.high} GeV, mean ${histogram.mean.toFixed(2)} GeV, rms ${histogram.rms.toFixed(2)} GeV ` +
      `(${(performance.now() - started).toFixed(0)} ms) -> ${args.out}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
