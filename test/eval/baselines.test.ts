import { describe, expect, it } from 'vitest';
import { fitKnn, knnScore, robustZScore, slidingWindows } from '../../src/eval/baselines.js';
import { InputError } from '../../src/util/errors.js';

describe('slidingWindows', () => {
  it('cuts channel-major windows with a stride', () => {
    // Two channels of 5 steps: c0 = 0..4, c1 = 10..14.
    const values = Float32Array.from([0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
    const ws = slidingWindows(values, 2, 5, 3, 2);
    expect(ws.map((w) => Array.from(w))).toEqual([
      [0, 1, 2, 10, 11, 12],
      [2, 3, 4, 12, 13, 14],
    ]);
    expect(() => slidingWindows(values, 3, 5, 3)).toThrow(InputError);
  });
});

describe('robustZScore', () => {
  it('scores the newest step against median and MAD of the history', () => {
    // History 1..5: median 3, |deviations| 2,1,0,1,2 -> MAD 1; (100 - 3) / 1.4826.
    const w = Float32Array.from([1, 2, 3, 4, 5, 100]);
    expect(robustZScore(w, 1)).toBeCloseTo(97 / 1.4826, 9);
    // An outlier inside the history barely moves median/MAD: 1,2,3,1000,5 -> median 3,
    // deviations 2,1,0,997,2 -> MAD 2; newest 4 -> |4 - 3| / (1.4826 · 2).
    expect(robustZScore(Float32Array.from([1, 2, 3, 1000, 5, 4]), 1)).toBeCloseTo(1 / 2.9652, 9);
  });

  it('takes the largest channel, honours channel selection and history length', () => {
    // c0: 1,2,3,4,5,100 (z ≈ 65); c1: 0,0,0,0,0,1 (MAD 0 -> floor 0.5 -> z = 2).
    const w = Float32Array.from([1, 2, 3, 4, 5, 100, 0, 0, 0, 0, 0, 1]);
    expect(robustZScore(w, 2, { minScale: 0.5 })).toBeCloseTo(97 / 1.4826, 9);
    expect(robustZScore(w, 2, { channels: [1], minScale: 0.5 })).toBeCloseTo(2, 12);
    // History of 2 steps (4, 5): median 4.5, MAD 0.5 -> 95.5 / 0.7413.
    expect(robustZScore(w, 2, { channels: [0], history: 2 })).toBeCloseTo(95.5 / (1.4826 * 0.5), 9);
    expect(() => robustZScore(w, 2, { channels: [2] })).toThrow(InputError);
  });
});

describe('k-NN window distance', () => {
  const train = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => Float32Array.from([k, 10 * k]));

  it('is zero for a stored window and grows with distance', () => {
    const model = fitKnn(train);
    expect(knnScore(model, Float32Array.from([3, 30]))).toBe(0);
    const near = knnScore(model, Float32Array.from([3.5, 35]));
    const far = knnScore(model, Float32Array.from([30, 300]));
    expect(near).toBeGreaterThan(0);
    expect(far).toBeGreaterThan(near * 10);
  });

  it('standardises features so a large-scale feature does not dominate', () => {
    // Feature 1 spans 10x feature 0; after standardisation a one-step move in either
    // feature alone costs the same.
    const model = fitKnn(train);
    const a = knnScore(model, Float32Array.from([3, 35]));
    const b = knnScore(model, Float32Array.from([3.5, 30]));
    expect(a).toBeCloseTo(b, 9);
  });

  it('uses the k-th neighbour and keeps an evenly spaced, deterministic subset', () => {
    const k2 = fitKnn(train, { k: 2 });
    // Nearest is window 3 itself (0), second nearest is 2 or 4 at one standardised step.
    const step = Math.hypot(1 / k2.std[0], 10 / k2.std[1]);
    expect(knnScore(k2, Float32Array.from([3, 30]))).toBeCloseTo(step, 9);

    // Cap 5 of 10 keeps windows floor(j·10/5) = 0, 2, 4, 6, 8.
    const capped = fitKnn(train, { maxTrain: 5 });
    expect(capped.trainCount).toBe(5);
    expect(knnScore(capped, Float32Array.from([4, 40]))).toBe(0);
    expect(knnScore(capped, Float32Array.from([3, 30]))).toBeGreaterThan(0);
    expect(fitKnn(train, { maxTrain: 5 }).train).toEqual(capped.train);
  });

  it('rejects inconsistent input', () => {
    expect(() => fitKnn([])).toThrow(InputError);
    expect(() => fitKnn([Float32Array.from([1, 2]), Float32Array.from([1])])).toThrow(InputError);
    expect(() => knnScore(fitKnn(train), Float32Array.from([1]))).toThrow(InputError);
  });
});
