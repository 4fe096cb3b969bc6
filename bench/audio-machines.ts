/**
 * Generated machines for the label-free audio selection (bench/audio-spectral.ts): machine
 * ids we do not have, so a choice can be checked for whether it generalises beyond fan id_00.
 *
 * A machine (seeded by its id) is a rotation fundamental f0 (20-60 Hz) with harmonics up to
 * 3 kHz (amplitudes falling 0.5-1.5 × 20 dB/decade with ±4 dB scatter) over broadband noise
 * shaped by a smooth envelope (3-6 bumps of ±3-10 dB in log-frequency, a roll-off above a
 * knee), harmonic-to-noise ratio −10..+5 dB. A recording varies: speed ±0.5 %, every
 * harmonic ±1 dB, the envelope ±0.5 dB, a background hiss 20-30 dB down, a slow ±5 %
 * amplitude wobble, a gain of ±2 dB. Synthesised in the frequency domain (one inverse FFT).
 *
 * Faults, at equal loudness (the faulty recording is rescaled to the RMS of the same
 * recording without the fault): `colour` (bench/audio-inject.ts randomColour), `lowband`
 * (±2-5 dB below a 150-500 Hz corner) and `harmonic` (one of the first 8 harmonics
 * +6..12 dB: a new imbalance / misalignment line).
 */
import FFT from 'fft.js';
import { Rng } from '../src/util/rng.js';
import { logUni, lowShelf, matchLoudness, randomColour, uni } from './audio-inject.js';

export const MACHINE_FAULTS = ['colour', 'lowband', 'harmonic'] as const;
export type MachineFault = (typeof MACHINE_FAULTS)[number];

interface Machine {
  f0: number;
  harmonics: number[];
  envelope: (hz: number) => number;
  hnrDb: number;
}

function machine(id: number): Machine {
  const rng = new Rng(7_000_001 + 7919 * id);
  const f0 = uni(rng, 20, 60);
  const alpha = uni(rng, 0.5, 1.5);
  const harmonics: number[] = [];
  for (let k = 1; k * f0 <= 3000; k++) harmonics.push(-alpha * 20 * Math.log10(k) + 4 * rng.normal());
  const n = 3 + rng.int(4);
  const bumps = Array.from({ length: n }, () => ({ c: Math.log2(logUni(rng, 50, 7000)), w: uni(rng, 0.4, 1.5), g: (rng.next() < 0.5 ? -1 : 1) * uni(rng, 3, 10) }));
  const knee = logUni(rng, 500, 3000);
  const slope = uni(rng, 3, 6);
  const envelope = (hz: number) => {
    const l = Math.log2(Math.max(hz, 10));
    let db = bumps.reduce((s, b) => s + b.g * Math.exp(-0.5 * ((l - b.c) / (b.w / 2)) ** 2), 0);
    if (hz > knee) db -= slope * Math.log2(hz / knee);
    return db;
  };
  return { f0, harmonics, envelope, hnrDb: uni(rng, -10, 5) };
}

/** One recording of machine `id` (seconds at sr), optionally with a fault; equal loudness to its fault-free twin. */
export function machineRecording(id: number, recording: number, o: { sr: number; seconds: number; fault?: MachineFault }): Float32Array {
  const m = machine(id);
  const sr = o.sr;
  const nOut = Math.round(o.seconds * sr);
  let n = 1;
  while (n < nOut) n *= 2;
  const build = (fault: MachineFault | undefined) => {
    // Same seed with and without the fault: the twin differs only by the fault.
    const rng = new Rng(9_100_003 + 7919 * id + 104_729 * recording);
    const speed = 1 + 0.005 * rng.normal();
    const jitter = [0, 1, 2].map(() => ({ c: Math.log2(logUni(rng, 50, 7000)), g: 0.5 * rng.normal() }));
    const fr = new Rng(31 + 7919 * id + 104_729 * recording);
    const faultGain = fault === 'colour' ? randomColour(fr) : null;
    const shelfCorner = logUni(fr, 150, 500);
    const shelfDb = (fr.next() < 0.5 ? -1 : 1) * uni(fr, 2, 5);
    const boostK = 1 + fr.int(8);
    const boostDb = uni(fr, 6, 12);
    const faultDb = (hz: number) => (fault === 'colour' ? faultGain!.db(hz) : fault === 'lowband' ? shelfDb * lowShelf(hz, shelfCorner) : 0);
    const spec = new Float64Array(2 * n);
    // Broadband part: white noise shaped by the envelope (and the recording's jitter).
    let noisePow = 0;
    for (let k = 1; k < n / 2; k++) {
      const hz = (k * sr) / n;
      const db = m.envelope(hz) + jitter.reduce((s, j) => s + j.g * Math.exp(-0.5 * (Math.log2(hz) - j.c) ** 2), 0);
      const a = 10 ** (db / 20);
      spec[2 * k] = a * rng.normal();
      spec[2 * k + 1] = a * rng.normal();
      noisePow += a * a;
    }
    // Harmonics: lines at k·f0 with the harmonic-to-noise ratio spread over them.
    let harmPow = 0;
    const amps = m.harmonics.map((db, i) => {
      const a = 10 ** ((db + 1 * rng.normal() + (fault === 'harmonic' && i + 1 === boostK ? boostDb : 0)) / 20);
      harmPow += a * a;
      return a;
    });
    const scale = Math.sqrt((2 * noisePow * 10 ** (m.hnrDb / 10)) / Math.max(harmPow, 1e-30));
    amps.forEach((a, i) => {
      const hz = (i + 1) * m.f0 * speed;
      const k = Math.round((hz * n) / sr);
      if (k <= 0 || k >= n / 2) return;
      const ph = 2 * Math.PI * rng.next();
      spec[2 * k] += scale * a * Math.cos(ph) * Math.sqrt(n / 4);
      spec[2 * k + 1] += scale * a * Math.sin(ph) * Math.sqrt(n / 4);
    });
    for (let k = 1; k < n / 2; k++) {
      const g = 10 ** (faultDb((k * sr) / n) / 20);
      spec[2 * k] *= g;
      spec[2 * k + 1] *= g;
      spec[2 * (n - k)] = spec[2 * k];
      spec[2 * (n - k) + 1] = -spec[2 * k + 1];
    }
    const fft = new FFT(n);
    const out = fft.createComplexArray() as number[];
    fft.inverseTransform(out, Array.from(spec));
    const y = new Float32Array(nOut);
    const wobF = uni(rng, 0.2, 1);
    const wobPh = 2 * Math.PI * rng.next();
    let pow = 0;
    for (let i = 0; i < nOut; i++) {
      y[i] = out[2 * i] * (1 + 0.05 * Math.sin((2 * Math.PI * wobF * i) / sr + wobPh));
      pow += y[i] * y[i];
    }
    const rms = Math.sqrt(pow / nOut);
    const hiss = rms * 10 ** (-uni(rng, 20, 30) / 20);
    const gain = (10 ** (uni(rng, -2, 2) / 20) * 0.05) / Math.max(rms, 1e-30);
    for (let i = 0; i < nOut; i++) y[i] = (y[i] + hiss * rng.normal()) * gain;
    return y;
  };
  const clean = build(undefined);
  return o.fault ? matchLoudness(build(o.fault), clean) : clean;
}
