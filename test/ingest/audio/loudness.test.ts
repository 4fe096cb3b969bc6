import { describe, expect, it } from 'vitest';
import { normaliseLoudness, rms, rmsDb } from '../../../src/ingest/audio/loudness.js';
import { testSignal } from '../../support/audio-signals.js';

describe('rms and loudness normalisation', () => {
  it('rms of a sine over whole cycles is A/√2; of a constant, |c|; of nothing, 0', () => {
    const x = testSignal(16000, 16000, [{ freq: 250, amp: 0.5 }]);
    expect(rms(x)).toBeCloseTo(0.5 / Math.SQRT2, 6);
    expect(rmsDb(x)).toBeCloseTo(20 * Math.log10(0.5) - 10 * Math.log10(2), 4);
    expect(rms(new Float32Array(100).fill(-0.25))).toBeCloseTo(0.25, 7);
    expect(rms(new Float32Array(0))).toBe(0);
    expect(rmsDb(new Float32Array(10))).toBe(-Infinity);
  });

  it.each([-30, -20, -6, 0])('scales to %i dB RMS without changing the waveform shape', (target) => {
    const x = testSignal(8000, 16000, [{ freq: 440, amp: 0.02 }, { freq: 1000, amp: 0.01 }], 0.005, 3);
    const copy = x.slice();
    const y = normaliseLoudness(x, target);
    expect(rmsDb(y)).toBeCloseTo(target, 4);
    expect(x).toEqual(copy); // input untouched
    const g = y[100] / x[100];
    for (let i = 0; i < x.length; i += 37) expect(y[i]).toBeCloseTo(x[i] * g, 5);
  });

  it('leaves silence and near-silence alone (no NaN, no amplified noise)', () => {
    const zeros = new Float32Array(1000);
    const y = normaliseLoudness(zeros, -20);
    expect(y).toEqual(zeros);
    expect(y).not.toBe(zeros);
    const tiny = new Float32Array(1000).fill(1e-7); // -140 dB
    expect(normaliseLoudness(tiny, -20)).toEqual(tiny);
    expect(rmsDb(normaliseLoudness(tiny, -20, { silenceDb: -160 }))).toBeCloseTo(-20, 3);
    expect(normaliseLoudness(new Float32Array(0), -20).length).toBe(0);
    expect(() => normaliseLoudness(zeros, Number.NaN)).toThrow(RangeError);
  });
});
