/**
 * Synthetic equal-loudness anomalies for the label-free audio selections
 * (bench/audio-select.ts, bench/audio-spectral.ts): the first five kinds are those of the
 * earlier runs, unchanged (same code, same draws); `colour` and `lowband` were added in the
 * fifth run (docs/audio.md):
 *   colour   a steady smooth colouration of the sound itself: 2-4 Gaussian bumps in
 *            log-frequency (centres log-uniform 30-6000 Hz, widths 0.5-1.5 octaves,
 *            ±1.5-4 dB each) — a changed resonance, clogging, a worn belt
 *   lowband  a low shelf: ±2-5 dB below a corner log-uniform in 150-500 Hz (imbalance or
 *            looseness raising the rotation harmonics). Added because RESEARCH.md says "the
 *            lowest bands matter" on MIMII — a prior that comes from test labels (disclosed).
 * Every injection is rescaled to the clean audio's RMS.
 */
import FFT from 'fft.js';
import type { Rng } from '../src/util/rng.js';

export const OLD_KINDS = ['tones', 'noiseband', 'clicks', 'tilt', 'am'] as const;
export const KINDS = [...OLD_KINDS, 'colour', 'lowband'] as const;
export type Kind = (typeof KINDS)[number];

export const uni = (rng: Rng, a: number, b: number) => a + (b - a) * rng.next();
export const logUni = (rng: Rng, a: number, b: number) => Math.exp(uni(rng, Math.log(a), Math.log(b)));

export function rmsOf(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, x.length));
}

/** Zero-phase FFT filter with gain(f Hz) (magnitude); returns a new array of x's length. */
export function fftFilter(x: Float32Array, sr: number, gain: (hz: number) => number): Float32Array {
  let n = 1;
  while (n < x.length) n *= 2;
  const fft = new FFT(n);
  const inp = new Float64Array(n);
  inp.set(x);
  const spec = fft.createComplexArray() as number[];
  fft.realTransform(spec, inp);
  fft.completeSpectrum(spec);
  for (let k = 0; k < n; k++) {
    const hz = (Math.min(k, n - k) * sr) / n;
    const g = gain(hz);
    spec[2 * k] *= g;
    spec[2 * k + 1] *= g;
  }
  const out = fft.createComplexArray() as number[];
  fft.inverseTransform(out, spec);
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = out[2 * i];
  return y;
}

/** Adds `a` to `x` at anomaly-to-normal ratio anrDb (power), in place into a new array. */
export function mixAt(x: Float32Array, a: Float32Array, anrDb: number): Float32Array {
  const gx = rmsOf(x);
  const ga = rmsOf(a);
  const k = ga > 0 ? (gx * 10 ** (anrDb / 20)) / ga : 0;
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] + k * a[i];
  return y;
}

/** Rescales y to x's RMS (equal loudness). */
export function matchLoudness(y: Float32Array, x: Float32Array): Float32Array {
  const g = rmsOf(x) / Math.max(1e-12, rmsOf(y));
  for (let i = 0; i < y.length; i++) y[i] *= g;
  return y;
}

/** One injected version of segment x (sample rate sr). Returns the audio and a description. */
export function inject(x: Float32Array, sr: number, kind: Kind, rng: Rng): { y: Float32Array; desc: string } {
  const n = x.length;
  const a = new Float32Array(n);
  let y: Float32Array;
  let desc: string;
  if (kind === 'tones') {
    const fs = [0, 1, 2].map(() => logUni(rng, 150, 6000));
    for (const f of fs) {
      const ph = 2 * Math.PI * rng.next();
      for (let i = 0; i < n; i++) a[i] += Math.sin((2 * Math.PI * f * i) / sr + ph);
    }
    const anr = uni(rng, -30, -15);
    y = mixAt(x, a, anr);
    desc = `tones ${fs.map((f) => f.toFixed(0)).join('/')} Hz ANR ${anr.toFixed(1)} dB`;
  } else if (kind === 'noiseband') {
    const fc = logUni(rng, 300, 6000);
    const lo = fc * 2 ** (-1 / 6);
    const hi = fc * 2 ** (1 / 6);
    for (let i = 0; i < n; i++) a[i] = rng.normal();
    const band = fftFilter(a, sr, (hz) => (hz >= lo && hz <= hi ? 1 : 0));
    const period = uni(rng, 0.6, 1.2) * sr;
    const phase = rng.next() * period;
    const ramp = 0.01 * sr;
    for (let i = 0; i < n; i++) {
      const p = (i + phase) % period;
      const on = period / 2;
      const g = p >= on ? 0 : Math.min(1, p / ramp, (on - p) / ramp);
      band[i] *= g;
    }
    const anr = uni(rng, -25, -10);
    y = mixAt(x, band, anr);
    desc = `noiseband ${fc.toFixed(0)} Hz ANR ${anr.toFixed(1)} dB`;
  } else if (kind === 'clicks') {
    const rate = uni(rng, 4, 25);
    const f = uni(rng, 1000, 5000);
    const tau = 0.0015 * sr;
    const len = Math.round(8 * tau);
    let t = rng.next() * (sr / rate);
    while (t < n) {
      const s = Math.round(t);
      const ph = 2 * Math.PI * rng.next();
      for (let j = 0; j < len && s + j < n; j++) a[s + j] += Math.exp(-j / tau) * Math.sin((2 * Math.PI * f * j) / sr + ph);
      t += (sr / rate) * (1 + 0.02 * (2 * rng.next() - 1));
    }
    const anr = uni(rng, -25, -10);
    y = mixAt(x, a, anr);
    desc = `clicks ${rate.toFixed(1)}/s ${f.toFixed(0)} Hz ANR ${anr.toFixed(1)} dB`;
  } else if (kind === 'tilt') {
    const slope = (rng.next() < 0.5 ? -1 : 1) * uni(rng, 1, 3);
    y = fftFilter(x, sr, (hz) => 10 ** ((slope * Math.log2(Math.max(hz, 20) / 1000)) / 20));
    desc = `tilt ${slope.toFixed(2)} dB/oct`;
  } else if (kind === 'colour') {
    const gain = randomColour(rng);
    y = fftFilter(x, sr, (hz) => 10 ** (gain.db(hz) / 20));
    desc = `colour ${gain.desc}`;
  } else if (kind === 'lowband') {
    const cut = logUni(rng, 150, 500);
    const db = (rng.next() < 0.5 ? -1 : 1) * uni(rng, 2, 5);
    y = fftFilter(x, sr, (hz) => 10 ** ((db * lowShelf(hz, cut)) / 20));
    desc = `lowband ${db.toFixed(1)} dB below ${cut.toFixed(0)} Hz`;
  } else {
    const f = uni(rng, 2, 12);
    const d = uni(rng, 0.2, 0.5);
    const ph = 2 * Math.PI * rng.next();
    y = new Float32Array(n);
    for (let i = 0; i < n; i++) y[i] = x[i] * (1 + d * Math.sin((2 * Math.PI * f * i) / sr + ph));
    desc = `am ${f.toFixed(1)} Hz depth ${d.toFixed(2)}`;
  }
  return { y: matchLoudness(y, x), desc };
}

/** 0 above the corner, 1 well below it (a smooth shelf: 1 / (1 + (f/fc)^4)). */
export function lowShelf(hz: number, corner: number): number {
  return 1 / (1 + (hz / corner) ** 4);
}

/** A random smooth colouration: dB gain as a sum of Gaussian bumps in log2 frequency. */
export function randomColour(rng: Rng): { db: (hz: number) => number; desc: string } {
  const n = 2 + rng.int(3);
  const bumps = Array.from({ length: n }, () => ({
    c: Math.log2(logUni(rng, 30, 6000)),
    w: uni(rng, 0.5, 1.5),
    g: (rng.next() < 0.5 ? -1 : 1) * uni(rng, 1.5, 4),
  }));
  return {
    db: (hz) => {
      const l = Math.log2(Math.max(hz, 10));
      return bumps.reduce((s, b) => s + b.g * Math.exp(-0.5 * ((l - b.c) / (b.w / 2)) ** 2), 0);
    },
    desc: bumps.map((b) => `${(2 ** b.c).toFixed(0)} Hz ${b.g.toFixed(1)} dB`).join(', '),
  };
}
