import FFT from 'fft.js';
import { describe, expect, it } from 'vitest';
import { Resampler, resample } from '../../../src/ingest/audio/resample.js';
import { concatF32, rng, testSignal, toneAmplitude } from '../../support/audio-signals.js';
import { rms } from '../../../src/ingest/audio/loudness.js';

/** Frequency of the largest DFT bin of a Hann-windowed section, refined by parabolic interpolation. */
function peakFrequency(x: Float32Array, start: number, sampleRate: number): number {
  const n = 8192;
  const f = new FFT(n);
  const input = new Float64Array(n);
  for (let i = 0; i < n; i++) input[i] = x[start + i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
  const out = new Float64Array(2 * n);
  f.realTransform(out, input);
  const mag = (k: number) => Math.hypot(out[2 * k], out[2 * k + 1]);
  let best = 1;
  for (let k = 1; k < n / 2; k++) if (mag(k) > mag(best)) best = k;
  const [a, b, c] = [Math.log(mag(best - 1)), Math.log(mag(best)), Math.log(mag(best + 1))];
  const delta = (0.5 * (a - c)) / (a - 2 * b + c);
  return ((best + delta) * sampleRate) / n;
}

describe('Resampler: band-limited rate conversion', () => {
  const cases = [
    { from: 48000, to: 16000, freq: 1000 },
    { from: 48000, to: 16000, freq: 6000 },
    { from: 44100, to: 16000, freq: 1000 },
    { from: 44100, to: 16000, freq: 5000 },
    { from: 22050, to: 16000, freq: 3000 },
    { from: 16000, to: 44100, freq: 1000 },
    { from: 8000, to: 16000, freq: 3000 },
  ];

  it.each(cases)('$from -> $to keeps a $freq Hz tone (frequency and amplitude)', ({ from, to, freq }) => {
    const amp = 0.6;
    const x = testSignal(Math.round(1.5 * from), from, [{ freq, amp, phase: 0.3 }]);
    const y = resample(x, from, to);
    expect(y.length).toBe(Math.ceil((x.length * to) / from));
    // Analyse 0.5 s from the middle, away from the zero-padded ends: whole cycles of freq.
    const start = Math.round(0.5 * to);
    const len = to / 2;
    expect(Math.abs(toneAmplitude(y, start, len, freq, to) - amp)).toBeLessThan(0.005 * amp);
    expect(Math.abs(peakFrequency(y, start, to) - freq)).toBeLessThan(0.5);
    // Nothing else: the residual after removing the tone is tiny (no aliases, no imaging).
    const residual = new Float32Array(len);
    for (let i = 0; i < len; i++) residual[i] = y[start + i] - amp * Math.sin((2 * Math.PI * freq * (start + i)) / to + 0.3);
    expect(20 * Math.log10(rms(residual) / (amp / Math.SQRT2))).toBeLessThan(-50);
  });

  it.each([
    { from: 48000, to: 16000, freq: 8500 },
    { from: 48000, to: 16000, freq: 12000 },
    { from: 44100, to: 16000, freq: 9000 },
    { from: 44100, to: 16000, freq: 15000 },
    { from: 22050, to: 16000, freq: 8400 },
  ])('$from -> $to attenuates a $freq Hz tone (above the new Nyquist) by more than 40 dB', ({ from, to, freq }) => {
    const x = testSignal(from, from, [{ freq, amp: 0.8 }]);
    const y = resample(x, from, to);
    const mid = y.subarray(Math.round(0.25 * to), Math.round(0.75 * to));
    const atten = 20 * Math.log10(rms(mid) / rms(x));
    expect(atten).toBeLessThan(-40);
    // The alias itself (freq folded about the new Nyquist) is what would appear.
    const alias = to - freq > 0 ? to - freq : freq - to;
    expect(toneAmplitude(y, Math.round(0.25 * to), to / 2, Math.abs(alias) % to, to)).toBeLessThan(0.8 * 0.01);
  });

  it.each([
    [48000, 16000],
    [44100, 16000],
    [16000, 44100],
    [16000, 16001], // L = 16001: kernel evaluated per output, no table
  ])('chunked output equals one-shot output (%i -> %i)', (from, to) => {
    const x = testSignal(from === 16000 && to === 16001 ? 3000 : 20000, from, [{ freq: 440, amp: 0.3 }], 0.2, 7);
    const oneShot = resample(x, from, to);
    const r = new Resampler(from, to);
    const rand = rng(99);
    const parts: Float32Array[] = [];
    let i = 0;
    const sizes = [0, 1, 2, 3];
    while (i < x.length) {
      const n = sizes.length ? sizes.shift()! : Math.floor(rand() * 3000);
      parts.push(r.push(x.subarray(i, i + n)));
      i += n;
    }
    parts.push(r.flush());
    expect(concatF32(parts)).toEqual(oneShot);
    expect(oneShot.length).toBe(Math.ceil((x.length * to) / from));
  });

  it('streams with bounded latency: outputs appear once lookahead input has arrived', () => {
    const r = new Resampler(48000, 16000);
    const x = testSignal(48000, 48000, [{ freq: 100, amp: 0.5 }]);
    let out = 0;
    for (let i = 0; i < x.length; i += 480) out += r.push(x.subarray(i, i + 480)).length;
    // All outputs whose kernel lies within the input are out before flush().
    expect(out).toBeGreaterThanOrEqual(16000 - Math.ceil(r.lookahead / 3) - 1);
    expect(out + r.flush().length).toBe(16000);
  });

  it('passes samples through unchanged when the rates are equal', () => {
    const x = testSignal(1000, 16000, [{ freq: 440, amp: 0.5 }], 0.1);
    expect(resample(x, 16000, 16000)).toEqual(x);
    const r = new Resampler(16000, 16000);
    expect(concatF32([r.push(x.subarray(0, 10)), r.push(x.subarray(10)), r.flush()])).toEqual(x);
  });

  it('keeps DC and rejects bad rates', () => {
    const y = resample(new Float32Array(44100).fill(0.25), 44100, 16000);
    for (let i = 2000; i < 14000; i += 101) expect(y[i]).toBeCloseTo(0.25, 3);
    expect(() => new Resampler(0, 16000)).toThrow(RangeError);
    expect(() => new Resampler(44100.5, 16000)).toThrow(RangeError);
  });
});
