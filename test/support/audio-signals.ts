/** Test helpers for the audio tests: a tiny WAV encoder, a seeded RNG, a direct DFT. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/util/rng.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const audioDataDir = path.resolve(repoRoot, '../shared/data/audio');

export interface WavSpec {
  sampleRate: number;
  format: 'pcm' | 'float';
  bits: 8 | 16 | 24 | 32 | 64;
  /**
   * Per-channel sample values: integer codes as stored for PCM (unsigned 0..255 for 8-bit,
   * signed otherwise), real values for float.
   */
  channels: number[][];
  extensible?: boolean;
  /** Chunks written before fmt, between fmt and data, and after data. */
  before?: { id: string; body: Buffer }[];
  between?: { id: string; body: Buffer }[];
  after?: { id: string; body: Buffer }[];
}

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** Encodes a WAV file byte for byte from the RIFF spec (independent of the reader). */
export function encodeWav(spec: WavSpec): Buffer {
  const nch = spec.channels.length;
  const frames = spec.channels[0].length;
  const bps = spec.bits / 8;
  const blockAlign = nch * bps;
  const code = spec.format === 'pcm' ? 1 : 3;
  const fmt = Buffer.alloc(spec.extensible ? 40 : 16);
  fmt.writeUInt16LE(spec.extensible ? 0xfffe : code, 0);
  fmt.writeUInt16LE(nch, 2);
  fmt.writeUInt32LE(spec.sampleRate, 4);
  fmt.writeUInt32LE(spec.sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(spec.bits, 14);
  if (spec.extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(spec.bits, 18);
    fmt.writeUInt32LE((1 << nch) - 1, 20);
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: {0000000X-0000-0010-8000-00AA00389B71}
    Buffer.from([code, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]).copy(fmt, 24);
  }
  const data = Buffer.alloc(frames * blockAlign);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < nch; c++) {
      const v = spec.channels[c][f];
      const p = f * blockAlign + c * bps;
      if (spec.format === 'float') {
        if (spec.bits === 32) data.writeFloatLE(v, p);
        else data.writeDoubleLE(v, p);
      } else if (spec.bits === 8) data.writeUInt8(v, p);
      else if (spec.bits === 16) data.writeInt16LE(v, p);
      else if (spec.bits === 24) data.writeIntLE(v, p, 3);
      else data.writeInt32LE(v, p);
    }
  }
  const parts = [
    ...(spec.before ?? []).map((c) => chunk(c.id, c.body)),
    chunk('fmt ', fmt),
    ...(spec.between ?? []).map((c) => chunk(c.id, c.body)),
    chunk('data', data),
    ...(spec.after ?? []).map((c) => chunk(c.id, c.body)),
  ];
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...parts]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** A temporary directory removed by cleanup(). */
export function tempDir(): { dir: string; write(name: string, bytes: Buffer): string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nf-audio-'));
  return {
    dir,
    write(name, bytes) {
      const p = path.join(dir, name);
      writeFileSync(p, bytes);
      return p;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Seeded uniform [0, 1) generator (the project's Rng). */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Sum of sines plus seeded uniform noise. */
export function testSignal(
  n: number,
  sampleRate: number,
  tones: { freq: number; amp: number; phase?: number }[],
  noiseAmp = 0,
  seed = 1,
): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = noiseAmp * (2 * r() - 1);
    for (const t of tones) v += t.amp * Math.sin((2 * Math.PI * t.freq * i) / sampleRate + (t.phase ?? 0));
    x[i] = v;
  }
  return x;
}

/** Amplitude of the component at `freq` by correlation over x (exact for whole cycles). */
export function toneAmplitude(x: ArrayLike<number>, start: number, length: number, freq: number, sampleRate: number): number {
  let re = 0;
  let im = 0;
  for (let i = 0; i < length; i++) {
    const ph = (2 * Math.PI * freq * i) / sampleRate;
    re += x[start + i] * Math.cos(ph);
    im -= x[start + i] * Math.sin(ph);
  }
  return (2 / length) * Math.hypot(re, im);
}

/** Direct O(N²) DFT of a real frame: bins 0..N/2, as [re, im] arrays. */
export function directDft(frame: ArrayLike<number>): { re: Float64Array; im: Float64Array } {
  const n = frame.length;
  const half = Math.floor(n / 2);
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / n);
    sin[i] = Math.sin((2 * Math.PI * i) / n);
  }
  const re = new Float64Array(half + 1);
  const im = new Float64Array(half + 1);
  for (let k = 0; k <= half; k++) {
    let r = 0;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const idx = (i * k) % n;
      r += frame[i] * cos[idx];
      s -= frame[i] * sin[idx];
    }
    re[k] = r;
    im[k] = s;
  }
  return { re, im };
}

export function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
