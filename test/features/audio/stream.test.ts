import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { audioConfigSchema } from '../../../src/features/audio/config.js';
import { fileWindows, selectChannel } from '../../../src/features/audio/features.js';
import { AudioStreams, pcmToFloat32 } from '../../../src/features/audio/stream.js';
import { logMelSpectrogram, rmsDb } from '../../../src/ingest/audio/index.js';
import type { Window } from '../../../src/ingest/types.js';
import { Rng } from '../../../src/util/rng.js';
import { machineClip, SR, toInt16, writeClip } from '../../support/audio-clips.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nf-audio-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings = (loudness: 'none' | 'window' | 'clip') =>
  audioConfigSchema.shape.audio.parse({ sampleRate: SR, channel: 0, nFft: 256, hop: 128, nMels: 16, frames: 8, hopFrames: 3, loudness: { mode: loudness, targetDb: -20 } });

/**
 * Independent reference: offline non-centred log-mel of the whole signal, windows cut by
 * hand, loudness offset from the RMS of the window's own samples [s·hop, (s+W)·hop).
 */
function referenceWindows(x: Float32Array, mode: 'none' | 'window'): { start: number; data: Float32Array }[] {
  const a = settings(mode);
  const m = logMelSpectrogram(x, { sampleRate: SR, nFft: a.nFft, hop: a.hop, nMels: a.nMels, center: false });
  const out: { start: number; data: Float32Array }[] = [];
  for (let s = 0; s + a.frames <= m.nFrames; s += a.hopFrames) {
    let off = 0;
    if (mode === 'window') {
      let sq = 0;
      for (let i = s * a.hop; i < (s + a.frames) * a.hop; i++) sq += x[i] * x[i];
      off = a.loudness.targetDb - 10 * Math.log10(sq / (a.frames * a.hop));
    }
    const data = new Float32Array(a.nMels * a.frames);
    for (let j = 0; j < a.frames; j++) for (let b = 0; b < a.nMels; b++) data[b * a.frames + j] = m.data[(s + j) * a.nMels + b] + off;
    out.push({ start: s, data });
  }
  return out;
}

function pushInChunks(streams: AudioStreams, id: string, x: Float32Array, seed: number): Window[] {
  const rng = new Rng(seed);
  const out: Window[] = [];
  for (let i = 0; i < x.length; ) {
    const n = 1 + rng.int(700);
    out.push(...streams.push(id, x.subarray(i, i + n)));
    i += n;
  }
  return out;
}

describe('streaming adapter', () => {
  // 16-bit values, as a device would send them.
  const codes = toInt16(machineClip({ seed: 5, seconds: 1.5, gain: 0.7 }));
  const x = Float32Array.from(codes, (c) => c / 32768);

  for (const mode of ['none', 'window'] as const) {
    it(`equals the offline log-mel path window for window (loudness ${mode}, random chunks)`, () => {
      const ref = referenceWindows(x, mode);
      const got = pushInChunks(new AudioStreams(settings(mode)), 'dev-1', x, 11);
      expect(ref.length).toBeGreaterThan(20);
      expect(got.map((w) => w.start)).toEqual(ref.map((r) => r.start));
      let maxDiff = 0;
      got.forEach((w, i) => {
        expect(w.channels).toBe(16);
        expect(w.length).toBe(8);
        expect(w.end).toBe(w.start + 7);
        expect(w.stream).toBe('dev-1');
        for (let k = 0; k < w.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(w.data[k] - ref[i].data[k]));
      });
      expect(maxDiff).toBeLessThan(1e-3);
    });
  }

  it('carries each window\'s RMS level before loudness normalisation (the level score\'s input), whatever the mode', () => {
    const a = settings('window');
    for (const mode of ['none', 'window'] as const) {
      const got = pushInChunks(new AudioStreams(settings(mode)), 'dev-1', x, 13);
      for (const w of got) {
        let sq = 0;
        for (let i = w.start * a.hop; i < (w.start + a.frames) * a.hop; i++) sq += x[i] * x[i];
        expect(w.levelDb).toBeCloseTo(10 * Math.log10(sq / (a.frames * a.hop)), 4);
      }
    }
  });

  it('gives the same windows as the file path, for s16le bytes, per device and with resampling', async () => {
    const a = settings('window');
    // 24 kHz input: both paths resample to 8 kHz.
    const hi = machineClip({ seed: 9, seconds: 1.2 });
    const up = new Float32Array(hi.length * 3);
    for (let i = 0; i < up.length; i++) up[i] = hi[Math.floor(i / 3)];
    const upCodes = toInt16(up);
    const file = writeClip(dir, 'dev.wav', upCodes, 24000);
    const offline: Window[] = [];
    for await (const ws of fileWindows(file, a, { stream: 'dev-2' })) offline.push(...ws);

    const bytes = Buffer.alloc(upCodes.length * 2);
    upCodes.forEach((c, i) => bytes.writeInt16LE(c, 2 * i));
    const streams = new AudioStreams(a, { inputRate: 24000 });
    const got: Window[] = [];
    // Interleave another device's pushes: state is per stream id.
    const other = machineClip({ seed: 1, seconds: 1 });
    for (let off = 0, k = 0; off < bytes.length; off += 2 * 1000, k++) {
      got.push(...streams.pushPcm('dev-2', bytes.subarray(off, off + 2000), { sample: 's16le' }));
      streams.push('dev-3', other.subarray(k * 300, (k + 1) * 300));
    }
    got.push(...streams.close('dev-2'));
    expect(streams.streamIds).toEqual(['dev-3']);
    expect(got.length).toBe(offline.length);
    expect(got.length).toBeGreaterThan(10);
    got.forEach((w, i) => {
      expect(w.start).toBe(offline[i].start);
      expect(Array.from(w.data)).toEqual(Array.from(offline[i].data));
    });
  });

  it('converts PCM and selects a channel of interleaved frames', () => {
    const b = Buffer.alloc(8);
    b.writeInt16LE(-32768, 0);
    b.writeInt16LE(16384, 2);
    b.writeInt16LE(0, 4);
    b.writeInt16LE(32767, 6);
    expect(Array.from(pcmToFloat32(b, 's16le'))).toEqual([-1, 0.5, 0, 32767 / 32768]);
    const f = Buffer.alloc(8);
    f.writeFloatLE(0.25, 0);
    f.writeFloatLE(-0.5, 4);
    expect(Array.from(pcmToFloat32(f, 'f32le'))).toEqual([0.25, -0.5]);
    expect(() => pcmToFloat32(Buffer.alloc(3), 's16le')).toThrow(/whole number/);
    expect(Array.from(selectChannel([1, 2, 3, 4, 5, 6], 2, 1))).toEqual([2, 4, 6]);
    expect(Array.from(selectChannel([1, 3, 5, 7], 2, 'mix'))).toEqual([2, 6]);
    expect(() => selectChannel([1, 2], 2, 5)).toThrow(/channel 5/);
  });

  it('stamps windows with epoch-ms times when the stream start is known', () => {
    const a = settings('none');
    const streams = new AudioStreams(a);
    streams.open('d', { startTimeMs: 1_700_000_000_000 });
    const ws = streams.push('d', x);
    expect(ws[1].startTs).toBeCloseTo(1_700_000_000_000 + ((3 * 128) / SR) * 1000, 6);
    expect(ws[0].endTs).toBeCloseTo(1_700_000_000_000 + ((7 * 128 + 256) / SR) * 1000, 6);
  });

  it('clip loudness: offline uses the whole clip level, streaming the trailing level', async () => {
    const a = settings('clip');
    const codes2 = toInt16(machineClip({ seed: 2, seconds: 1 }));
    const file = writeClip(dir, 'clip.wav', codes2);
    const off: Window[] = [];
    for await (const ws of fileWindows(file, a)) off.push(...ws);
    const noneRef = referenceWindows(Float32Array.from(codes2, (c) => c / 32768), 'none');
    // A constant offset per clip: the same for every window and value.
    const d0 = off[0].data[0] - noneRef[0].data[0];
    const xs = Float32Array.from(codes2, (c) => c / 32768);
    expect(d0).toBeCloseTo(-20 - rmsDb(xs), 3);
    expect(Math.abs(d0)).toBeGreaterThan(1);
    off.forEach((w, i) => expect(w.data[5] - noneRef[i].data[5]).toBeCloseTo(d0, 3));
  });
});
