import FFT from 'fft.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DCASE_LOG_EPS,
  StreamingContextStacker,
  StreamingLogMel,
  frameCount,
  hannWindow,
  hzToMel,
  logMelSpectrogram,
  melFilterbank,
  melToHz,
  powerSpectrogram,
  stackContext,
  type FrameMatrix,
} from '../../../src/ingest/audio/features.js';
import { directDft, rng, testSignal } from '../../support/audio-signals.js';

/*
 * Reference formulas, written out here independently of the implementation:
 *
 * Slaney mel scale (librosa htk=False; Malcolm Slaney's Auditory Toolbox):
 *   mel(f) = f / (200/3)                                  for f < 1000 Hz (linear part)
 *   mel(f) = 15 + ln(f / 1000) / (ln(6.4) / 27)           for f >= 1000 Hz (log part)
 * HTK mel scale: mel(f) = 2595 * log10(1 + f / 700).
 * Filter m (0-based) has edges f_m < f_{m+1} < f_{m+2} taken from n_mels + 2 points equally
 * spaced in mel between fMin and fMax; its weight at FFT bin k (frequency k * sr / n_fft) is
 *   max(0, min((f - f_m) / (f_{m+1} - f_m), (f_{m+2} - f) / (f_{m+2} - f_{m+1})))
 * times 2 / (f_{m+2} - f_m) under Slaney area normalisation.
 * Power spectrum: |Σ_i w[i] x[i] e^{-2πi ik/N}|², periodic Hann w[i] = 0.5 - 0.5 cos(2πi/N).
 */
function refHzToMel(f: number, htk: boolean): number {
  if (htk) return 2595 * Math.log10(1 + f / 700);
  return f < 1000 ? (3 * f) / 200 : 15 + (27 * Math.log(f / 1000)) / Math.log(6.4);
}
function refMelToHz(m: number, htk: boolean): number {
  if (htk) return 700 * (10 ** (m / 2595) - 1);
  return m < 15 ? (200 * m) / 3 : 1000 * Math.exp((m - 15) * (Math.log(6.4) / 27));
}
function refFilterbank(sr: number, nFft: number, nMels: number, fMin: number, fMax: number, htk: boolean, slaneyNorm: boolean) {
  const lo = refHzToMel(fMin, htk);
  const hi = refHzToMel(fMax, htk);
  const edges = Array.from({ length: nMels + 2 }, (_, i) => refMelToHz(lo + (i * (hi - lo)) / (nMels + 1), htk));
  const bins = nFft / 2 + 1;
  return Array.from({ length: nMels }, (_, m) =>
    Array.from({ length: bins }, (_, k) => {
      const f = (k * sr) / nFft;
      const up = (f - edges[m]) / (edges[m + 1] - edges[m]);
      const down = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
      return Math.max(0, Math.min(up, down)) * (slaneyNorm ? 2 / (edges[m + 2] - edges[m]) : 1);
    }),
  );
}
function refPowerFrame(x: ArrayLike<number>, start: number, nFft: number): number[] {
  const frame = Array.from({ length: nFft }, (_, i) => x[start + i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft)));
  const { re, im } = directDft(frame);
  return Array.from(re, (r, k) => r * r + im[k] * im[k]);
}
function refMel(power: number[], bank: number[][]): number[] {
  return bank.map((row) => row.reduce((a, w, k) => a + w * power[k], 0));
}
function expectRel(actual: number, expected: number, rel: number, what: string): void {
  if (!(Math.abs(actual - expected) <= rel * Math.abs(expected))) {
    throw new Error(`${what}: ${actual} vs ${expected} (rel ${Math.abs(actual - expected) / Math.abs(expected)})`);
  }
}

const SR = 16000;
const signal = testSignal(1024 + 6 * 512 + 100, SR, [
  { freq: 440, amp: 0.3 },
  { freq: 1234.5, amp: 0.2, phase: 1 },
  { freq: 5000, amp: 0.05, phase: 2 },
], 0.05, 123);

afterEach(() => vi.restoreAllMocks());

describe('window and mel scale', () => {
  it('periodic Hann window', () => {
    const w = hannWindow(1024);
    expect(w[0]).toBe(0);
    expect(w[512]).toBeCloseTo(1, 15);
    for (let i = 1; i < 1024; i++) expect(w[i]).toBeCloseTo(w[1024 - i], 14);
    const s = hannWindow(9, false);
    expect(s[0]).toBe(0);
    expect(s[8]).toBeCloseTo(0, 15);
    expect(s[4]).toBe(1);
  });

  it('mel scales match the written-out formulas and invert', () => {
    for (const f of [0, 100, 500, 999, 1000, 1500, 4000, 6400, 8000, 11025]) {
      for (const htk of [false, true]) {
        const scale = htk ? 'htk' : 'slaney';
        expect(hzToMel(f, scale)).toBeCloseTo(refHzToMel(f, htk), 10);
        expect(melToHz(hzToMel(f, scale), scale)).toBeCloseTo(f, 8);
      }
    }
    expect(hzToMel(1000)).toBeCloseTo(15, 12);
    expect(hzToMel(6400)).toBeCloseTo(42, 12);
    expect(hzToMel(700, 'htk')).toBeCloseTo(2595 * Math.log10(2), 10);
  });

  it.each([
    { htk: false, norm: true, nFft: 1024, nMels: 128, fMin: 0, fMax: 8000 },
    { htk: true, norm: false, nFft: 512, nMels: 40, fMin: 50, fMax: 7600 },
    { htk: true, norm: true, nFft: 2048, nMels: 64, fMin: 0, fMax: 8000 },
  ])('filterbank equals the reference (htk $htk, slaney norm $norm, $nMels mels)', ({ htk, norm, nFft, nMels, fMin, fMax }) => {
    const fb = melFilterbank({ sampleRate: SR, nFft, nMels, fMin, fMax, melScale: htk ? 'htk' : 'slaney', melNorm: norm ? 'slaney' : 'none' });
    const ref = refFilterbank(SR, nFft, nMels, fMin, fMax, htk, norm);
    expect(fb.nBins).toBe(nFft / 2 + 1);
    let bad = 0;
    let nonZero = 0;
    for (let m = 0; m < nMels; m++) {
      for (let k = 0; k < fb.nBins; k++) {
        const w = fb.weights[m * fb.nBins + k];
        if (!(Math.abs(w - ref[m][k]) <= 1e-12 + 1e-9 * Math.abs(ref[m][k]))) bad++;
        if ((k < fb.start[m] || k >= fb.end[m]) && w !== 0) bad++;
        if (w > 0) nonZero++;
      }
    }
    expect(bad).toBe(0);
    expect(nonZero).toBeGreaterThan(nFft / 2);
  });

  it('slaney-normalised filters have unit area in Hz (wide filters)', () => {
    const fb = melFilterbank({ sampleRate: SR, nFft: 1024, nMels: 40 });
    const binHz = SR / 1024;
    for (let m = 20; m < 40; m++) {
      let area = 0;
      for (let k = 0; k < fb.nBins; k++) area += fb.weights[m * fb.nBins + k] * binHz;
      expect(area).toBeGreaterThan(0.97);
      expect(area).toBeLessThan(1.03);
    }
  });
});

describe('log-mel parity with a direct DFT', () => {
  it('power spectrogram (non-centred) equals |DFT|² of Hann-windowed frames', () => {
    const ps = powerSpectrogram(signal, { nFft: 1024, hop: 512, center: false });
    expect(ps.nFrames).toBe(1 + Math.floor((signal.length - 1024) / 512));
    expect(ps.dim).toBe(513);
    for (const t of [0, 3, ps.nFrames - 1]) {
      const ref = refPowerFrame(signal, t * 512, 1024);
      const top = Math.max(...ref);
      for (let k = 0; k <= 512; k++) {
        // float32 storage: relative 1e-4 for bins with real energy, absolute for near-empty ones.
        expect(Math.abs(ps.data[t * 513 + k] - ref[k])).toBeLessThanOrEqual(1e-4 * ref[k] + 1e-9 * top);
      }
    }
  });

  it.each([
    { log: 'none' as const },
    { log: 'dcase' as const },
    { log: 'floor' as const },
  ])('128-mel Slaney log-mel (log $log), n_fft 1024, hop 512, matches to 1e-4 relative', ({ log }) => {
    const nFft = 1024;
    const hop = 512;
    const out = logMelSpectrogram(signal, { sampleRate: SR, nFft, hop, nMels: 128, center: false, log: { kind: log } });
    const nFrames = 1 + Math.floor((signal.length - nFft) / hop);
    expect(out.nFrames).toBe(nFrames);
    expect(out.dim).toBe(128);
    const bank = refFilterbank(SR, nFft, 128, 0, SR / 2, false, true);
    for (let t = 0; t < nFrames; t++) {
      const mel = refMel(refPowerFrame(signal, t * hop, nFft), bank);
      for (let m = 0; m < 128; m++) {
        const expected =
          log === 'none' ? mel[m] : log === 'dcase' ? 10 * Math.log10(mel[m] + 2.220446049250313e-16) : 10 * Math.log10(Math.max(mel[m], 1e-10));
        expectRel(out.data[t * 128 + m], expected, 1e-4, `frame ${t} mel ${m}`);
      }
    }
  });

  it('HTK mels, magnitude (power 1), dcase log = 20·log10(mel + eps)', () => {
    const out = logMelSpectrogram(signal, { sampleRate: SR, nFft: 512, hop: 256, nMels: 40, power: 1, melScale: 'htk', center: false });
    const bank = refFilterbank(SR, 512, 40, 0, SR / 2, true, true);
    for (const t of [0, 5, out.nFrames - 1]) {
      const mag = refPowerFrame(signal, t * 256, 512).map(Math.sqrt);
      const mel = refMel(mag, bank);
      for (let m = 0; m < 40; m++) expectRel(out.data[t * 40 + m], 20 * Math.log10(mel[m] + DCASE_LOG_EPS), 1e-4, `mel ${m}`);
    }
  });

  it.each(['reflect', 'constant'] as const)('centred frames (pad mode %s) are frames of the padded signal', (padMode) => {
    const nFft = 1024;
    const hop = 512;
    const pad = nFft / 2;
    const n = signal.length;
    // numpy.pad 'reflect': mirror about the edge samples without repeating them.
    const padded = new Float64Array(n + 2 * pad);
    for (let i = 0; i < n; i++) padded[pad + i] = signal[i];
    if (padMode === 'reflect') {
      for (let i = 1; i <= pad; i++) {
        padded[pad - i] = signal[i];
        padded[pad + n - 1 + i] = signal[n - 1 - i];
      }
    }
    const out = logMelSpectrogram(signal, { sampleRate: SR, nFft, hop, center: true, padMode, log: { kind: 'none' } });
    expect(out.nFrames).toBe(1 + Math.floor(n / hop));
    const bank = refFilterbank(SR, nFft, 128, 0, SR / 2, false, true);
    for (const t of [0, 1, out.nFrames - 1]) {
      const mel = refMel(refPowerFrame(padded, t * hop, nFft), bank);
      for (let m = 0; m < 128; m++) expectRel(out.data[t * 128 + m], mel[m], 1e-4, `frame ${t} mel ${m}`);
    }
  });

  it('frame counts follow librosa', () => {
    expect(frameCount(160000, 1024, 512, true)).toBe(313); // a 10 s MIMII clip
    expect(frameCount(160000, 1024, 512, false)).toBe(311);
    expect(frameCount(1000, 1024, 512, false)).toBe(0);
    expect(logMelSpectrogram(new Float32Array(1000), { sampleRate: SR, center: false }).nFrames).toBe(0);
  });
});

describe('streaming extractor', () => {
  const long = testSignal(20000, SR, [{ freq: 300, amp: 0.4 }, { freq: 2500, amp: 0.1 }], 0.1, 5);

  function pushInChunks(s: StreamingLogMel, x: Float32Array, seed: number): FrameMatrix {
    const r = rng(seed);
    const parts: FrameMatrix[] = [];
    let i = 0;
    const fixed = [0, 1, 1023, 1, 511, 2, 2048];
    while (i < x.length) {
      const n = fixed.length ? fixed.shift()! : Math.floor(r() * 1500);
      parts.push(s.push(x.subarray(i, i + n)));
      i += n;
    }
    const nFrames = parts.reduce((a, p) => a + p.nFrames, 0);
    const data = new Float32Array(nFrames * s.nMels);
    let o = 0;
    for (const p of parts) {
      expect(p.data.length).toBe(p.nFrames * s.nMels);
      data.set(p.data, o);
      o += p.data.length;
    }
    return { nFrames, dim: s.nMels, data };
  }

  it.each([
    { nFft: 1024, hop: 512, nMels: 128 },
    { nFft: 512, hop: 160, nMels: 40 },
    { nFft: 256, hop: 400, nMels: 24 }, // hop larger than the frame
  ])('equals the offline non-centred extractor for any chunking ($nFft/$hop/$nMels)', ({ nFft, hop, nMels }) => {
    const opts = { sampleRate: SR, nFft, hop, nMels };
    const offline = logMelSpectrogram(long, { ...opts, center: false });
    for (const seed of [1, 2]) {
      const s = new StreamingLogMel(opts);
      const streamed = pushInChunks(s, long, seed);
      expect(streamed.nFrames).toBe(frameCount(long.length, nFft, hop, false));
      expect(streamed.data).toEqual(offline.data);
      expect(s.framesEmitted).toBe(offline.nFrames);
    }
  });

  it('runs exactly one FFT per new frame', () => {
    const spy = vi.spyOn(FFT.prototype, 'realTransform');
    const s = new StreamingLogMel({ sampleRate: SR });
    expect(s.push(long.subarray(0, 1000)).nFrames).toBe(0);
    expect(spy).toHaveBeenCalledTimes(0);
    let frames = 0;
    for (let i = 1000; i < long.length; i += 300) {
      const before = spy.mock.calls.length;
      const got = s.push(long.subarray(i, i + 300)).nFrames;
      expect(spy.mock.calls.length - before).toBe(got);
      frames += got;
    }
    expect(frames).toBe(frameCount(long.length, 1024, 512, false));
  });

  it('reset starts a new stream', () => {
    const s = new StreamingLogMel({ sampleRate: SR, nFft: 512, hop: 256, nMels: 32 });
    const a = s.push(long);
    s.reset();
    expect(s.push(long).data).toEqual(a.data);
  });
});

describe('context stacking', () => {
  const m = logMelSpectrogram(signal, { sampleRate: SR, nFft: 512, hop: 256, nMels: 16, center: true });

  it('vector v concatenates frames v..v+context-1 (DCASE baseline layout)', () => {
    const ctx = 5;
    const st = stackContext(m, ctx);
    expect(st.nFrames).toBe(m.nFrames - ctx + 1);
    expect(st.dim).toBe(16 * ctx);
    for (let v = 0; v < st.nFrames; v++) {
      for (let j = 0; j < ctx; j++) {
        for (let k = 0; k < 16; k++) expect(st.data[v * st.dim + j * 16 + k]).toBe(m.data[(v + j) * 16 + k]);
      }
    }
    expect(stackContext(m, m.nFrames + 1).nFrames).toBe(0);
    expect(stackContext(m, 1).data).toEqual(m.data);
  });

  it('streaming stacker equals offline stacking', () => {
    const st = new StreamingContextStacker(16, 5);
    const parts: Float32Array[] = [];
    let n = 0;
    for (const [a, b] of [[0, 1], [1, 3], [3, 3], [3, 9], [9, m.nFrames]]) {
      const out = st.push({ nFrames: b - a, dim: 16, data: m.data.slice(a * 16, b * 16) });
      parts.push(out.data);
      n += out.nFrames;
    }
    const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    const ref = stackContext(m, 5);
    expect(n).toBe(ref.nFrames);
    expect(all).toEqual(ref.data);
  });
});
