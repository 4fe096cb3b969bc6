import { describe, expect, it } from 'vitest';
import { Dspot, Spot, fitGpd, gpdLogLikelihood, potQuantile } from '../../src/scoring/spot.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const exponential = (r: () => number, rate = 1) => () => -Math.log(1 - r()) / rate;
const pareto = (r: () => number, xm: number, alpha: number) => () => xm * Math.pow(1 - r(), -1 / alpha);
const draw = (g: () => number, n: number) => Float64Array.from({ length: n }, g);

describe('GPD fit (Grimshaw)', () => {
  it('recovers a GPD with positive shape', () => {
    // GPD(gamma=0.25, sigma=2) by inversion: y = sigma/gamma * ((1-u)^-gamma - 1).
    const r = rng(7);
    const y = draw(() => (2 / 0.25) * (Math.pow(1 - r(), -0.25) - 1), 3000);
    const fit = fitGpd(y);
    expect(fit.method).toBe('grimshaw');
    expect(fit.gamma).toBeGreaterThan(0.15);
    expect(fit.gamma).toBeLessThan(0.35);
    expect(fit.sigma).toBeGreaterThan(1.7);
    expect(fit.sigma).toBeLessThan(2.3);
    // The MLE beats the truth and the exponential on its own sample.
    expect(fit.logLikelihood).toBeGreaterThanOrEqual(gpdLogLikelihood(y, 0.25, 2));
    expect(fit.logLikelihood).toBeGreaterThan(gpdLogLikelihood(y, 0, y.reduce((s, v) => s + v, 0) / y.length));
  });

  it('recovers a bounded tail (negative shape)', () => {
    const r = rng(11);
    const y = draw(() => (1 / -0.3) * (Math.pow(1 - r(), 0.3) - 1), 3000);
    const fit = fitGpd(y);
    expect(fit.gamma).toBeLessThan(-0.2);
    expect(fit.gamma).toBeGreaterThan(-0.4);
  });

  it('falls back on degenerate samples', () => {
    expect(fitGpd([1, 1, 1, 1]).method).toBe('exponential');
    expect(fitGpd([0.5]).sigma).toBe(0.5);
    expect(Number.isFinite(potQuantile(1, fitGpd([2, 2]), 1e-3, 100, 2))).toBe(true);
  });
});

describe('SPOT', () => {
  it('finds the analytic quantile of an exponential and keeps the false-alarm rate near q', () => {
    const r = rng(42);
    const gen = exponential(r);
    const q = 1e-3;
    const spot = new Spot({ q, level: 0.98 });
    spot.calibrate(draw(gen, 5000));
    // Exp(1): P(X > z) = e^-z, so z_q = ln(1/q) = 6.91.
    expect(spot.initialThreshold).toBeCloseTo(Math.log(50), 0);
    expect(spot.threshold).toBeGreaterThan(Math.log(1 / q) - 0.8);
    expect(spot.threshold).toBeLessThan(Math.log(1 / q) + 0.8);
    const n = 30000;
    let alarms = 0;
    for (let i = 0; i < n; i++) if (spot.step(gen()).anomaly) alarms++;
    const rate = alarms / n;
    expect(rate).toBeGreaterThan(q / 4);
    expect(rate).toBeLessThan(q * 4);
    // The online updates keep z_q near the analytic quantile. (The gate truncates the tail at
    // z_q, which biases the shape slightly negative over a long run: z_q drifts a little low.)
    expect(Math.abs(spot.threshold - Math.log(1 / q))).toBeLessThan(1.1);
    expect(spot.observations).toBe(5000 + n - alarms);
  });

  it('fits a heavy (Pareto) tail', () => {
    const r = rng(3);
    const gen = pareto(r, 1, 3);
    const q = 1e-3;
    const spot = new Spot({ q });
    spot.calibrate(draw(gen, 5000));
    const analytic = Math.pow(q, -1 / 3); // 10
    expect(spot.fit!.gamma).toBeGreaterThan(0.15);
    expect(spot.fit!.gamma).toBeLessThan(0.5);
    expect(spot.threshold).toBeGreaterThan(analytic * 0.75);
    expect(spot.threshold).toBeLessThan(analytic * 1.35);
  });

  it('flags anomalies without letting them into the tail model', () => {
    const r = rng(5);
    const gen = exponential(r);
    const spot = new Spot({ q: 1e-4 });
    spot.calibrate(draw(gen, 2000));
    const z = spot.threshold;
    const n = spot.observations;
    const peaks = spot.peakTotal;
    for (let i = 0; i < 50; i++) {
      const s = spot.step(z + 5 + i);
      expect(s.anomaly).toBe(true);
      expect(s.threshold).toBe(z);
    }
    expect(spot.threshold).toBe(z);
    expect(spot.observations).toBe(n);
    expect(spot.peakTotal).toBe(peaks);
    // A peak below z_q is added and moves the threshold.
    const s = spot.step(spot.initialThreshold + 0.1);
    expect(s.anomaly).toBe(false);
    expect(spot.peakTotal).toBe(peaks + 1);
  });

  it('needs calibration', () => {
    expect(() => new Spot().step(1)).toThrow(/calibrate/);
    expect(() => new Spot().calibrate([1, 2, 3])).toThrow(RangeError);
  });
});

describe('DSPOT', () => {
  it('follows a drifting level where plain SPOT would alarm on everything', () => {
    const r = rng(99);
    const noise = exponential(r);
    const drift = (i: number) => 0.002 * i; // slow upward drift
    const q = 1e-3;
    const init = Float64Array.from({ length: 3000 }, (_, i) => drift(i) + noise());
    const dspot = new Dspot({ q, depth: 20 });
    dspot.calibrate(init);
    const spot = new Spot({ q });
    spot.calibrate(init);
    let dAlarms = 0;
    let sAlarms = 0;
    const n = 10000;
    for (let k = 0; k < n; k++) {
      const i = 3000 + k;
      const x = drift(i) + noise();
      if (dspot.step(x).anomaly) dAlarms++;
      if (spot.step(x).anomaly) sAlarms++;
    }
    expect(sAlarms / n).toBeGreaterThan(0.2);
    expect(dAlarms / n).toBeLessThan(q * 5);
    // Threshold on the original scale sits above the current level.
    expect(dspot.threshold).toBeGreaterThan(drift(3000 + n));
    // A spike on top of the drift is caught.
    expect(dspot.step(drift(3000 + n) + 40).anomaly).toBe(true);
  });
});
