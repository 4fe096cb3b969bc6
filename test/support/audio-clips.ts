/** Synthetic machine sounds for the audio-model tests: a harmonic hum plus noise. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { audioConfigSchema, type AudioConfig } from '../../src/features/audio/config.js';
import { Rng } from '../../src/util/rng.js';
import { encodeWav } from './audio-signals.js';

export const SR = 8000;

export interface ClipOptions {
  seconds?: number;
  seed: number;
  /** Adds a steady tone (Hz) at `toneRel` of the hum's amplitude. */
  tone?: number;
  toneRel?: number;
  /** Scale the result to this RMS (linear); default: as generated. */
  rms?: number;
  /** Multiplies the final signal (a level-only change). */
  gain?: number;
}

/** Hum at 100 Hz with 5 harmonics (jittered amplitudes and phases) plus white noise. */
export function machineClip(o: ClipOptions): Float32Array {
  const rng = new Rng(o.seed);
  const n = Math.round((o.seconds ?? 2) * SR);
  const x = new Float32Array(n);
  const f0 = 100 * (1 + 0.01 * (rng.next() - 0.5));
  const amps = [0.3, 0.2, 0.15, 0.1, 0.08].map((a) => a * (0.9 + 0.2 * rng.next()));
  const phases = amps.map(() => 2 * Math.PI * rng.next());
  const tonePhase = 2 * Math.PI * rng.next();
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    let v = 0;
    for (let h = 0; h < amps.length; h++) v += amps[h] * Math.sin(2 * Math.PI * f0 * (h + 1) * t + phases[h]);
    v += 0.05 * rng.normal();
    if (o.tone) v += (o.toneRel ?? 0.5) * 0.3 * Math.sin(2 * Math.PI * o.tone * t + tonePhase);
    x[i] = v;
  }
  if (o.rms !== undefined) {
    let s = 0;
    for (const v of x) s += v * v;
    const g = o.rms / Math.sqrt(s / n);
    for (let i = 0; i < n; i++) x[i] *= g;
  }
  if (o.gain !== undefined) for (let i = 0; i < n; i++) x[i] *= o.gain;
  return x;
}

/** int16 codes of a float signal (clipped to the int16 range). */
export function toInt16(x: Float32Array): number[] {
  return Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
}

/** Writes a 16-bit mono WAV; returns its path. */
export function writeClip(dir: string, name: string, codes: number[], sampleRate = SR): string {
  const file = path.join(dir, name);
  writeFileSync(file, encodeWav({ sampleRate, format: 'pcm', bits: 16, channels: [codes] }));
  return file;
}

/** A tiny audio configuration: 16 mels × 8 frames at 8 kHz, trains in seconds. */
export function tinyAudioConfig(audio: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): AudioConfig {
  return audioConfigSchema.parse({
    audio: { sampleRate: SR, channel: 0, nFft: 256, hop: 128, nMels: 16, frames: 8, hopFrames: 4, trainHopFrames: 1, ...audio },
    model: { arch: 'mixer', patch: 2, dim: 32, depth: 1, T: 100 },
    train: { epochs: 8, stepsPerEpoch: 25, batchSize: 64, patience: 4, seed: 3 },
    scoring: { t0: 0.3, steps: 3, samples: 2 },
    calibration: { targetFalseAlarmRate: 0.01 },
    ...extra,
  });
}
