import { describe, expect, it } from 'vitest';
import {
  AnomalyLikelihood,
  StreamLikelihoods,
  erfc,
  logLikelihood,
  qFunction,
  tailProbability,
} from '../../src/scoring/likelihood.js';

/** The deterministic sequence the golden values were computed on (Lehmer's MINSTD, then a burst). */
function sequence(): number[] {
  let s = 12345;
  const out: number[] = [];
  for (let i = 0; i < 700; i++) {
    s = (s * 48271) % 2147483647;
    const u = s / 2147483647;
    out.push(i >= 500 && i < 520 ? 0.9 + 0.1 * u : u * 0.2);
  }
  return out;
}

describe('Q-function', () => {
  it('matches known normal tail probabilities', () => {
    expect(qFunction(0)).toBeCloseTo(0.5, 7);
    expect(qFunction(1)).toBeCloseTo(0.158655254, 7);
    expect(qFunction(3) / 0.0013498980316).toBeCloseTo(1, 6);
    expect(qFunction(5) / 2.866515718791939e-7).toBeCloseTo(1, 5);
    expect(erfc(-1)).toBeCloseTo(1.842700792949715, 7);
  });

  it('is symmetric around the mean like nupic', () => {
    const d = { mean: 0.5, variance: 0.01, stdev: 0.1 };
    expect(tailProbability(0.3, d)).toBeCloseTo(tailProbability(0.7, d), 12);
  });
});

describe('AnomalyLikelihood', () => {
  it('reproduces nupic AnomalyLikelihood.anomalyProbability values', () => {
    // Golden values: nupic's anomaly_likelihood.py (AnomalyLikelihood with learningPeriod=50,
    // estimationSamples=50, historicWindowSize=300, reestimationPeriod=37), run on sequence().
    const golden: Record<number, number> = {
      0: 0.5,
      99: 0.5,
      100: 0.979853713823228,
      101: 0.9540227450541552,
      150: 0.8507980667037607,
      333: 0.7087063419119977,
      499: 0.7608839466188815,
      500: 0.9999999966067639,
      503: 0.999,
      505: 0.999,
      510: 0.999,
      519: 0.999,
      520: 0.999,
      530: 0.6148201541368891,
      600: 0.5746619769053358,
      699: 0.6252730688335371,
    };
    const al = new AnomalyLikelihood({ learningPeriod: 50, estimationSamples: 50, historicWindowSize: 300, reestimationPeriod: 37 });
    const got = sequence().map((s) => al.probability(s));
    for (const [i, v] of Object.entries(golden)) expect(got[Number(i)], `index ${i}`).toBeCloseTo(v, 6);
  });

  it('reports 0.5 through the probationary period, then reacts to a sustained rise', () => {
    const al = new AnomalyLikelihood({ learningPeriod: 20, estimationSamples: 30, reestimationPeriod: 10, historicWindowSize: 500 });
    let s = 1;
    const u = () => ((s = (s * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < 50; i++) expect(al.probability(u())).toBe(0.5);
    let last = 0;
    for (let i = 0; i < 200; i++) last = al.probability(u());
    expect(last).toBeLessThan(0.99);
    let peak = 0;
    for (let i = 0; i < 10; i++) peak = Math.max(peak, al.probability(0.999));
    expect(peak).toBeGreaterThan(0.9999);
    expect(logLikelihood(peak)).toBeGreaterThan(0.4);
    expect(logLikelihood(0.5)).toBeLessThan(0.05);
  });

  it('keeps one estimator per stream', () => {
    const sl = new StreamLikelihoods({ learningPeriod: 0, estimationSamples: 1 });
    sl.probability('a', 0.1);
    sl.probability('b', 0.1);
    expect(sl.size).toBe(2);
    expect(sl.get('a')?.count).toBe(1);
    expect(sl.delete('a')).toBe(true);
    expect(() => new AnomalyLikelihood({ historicWindowSize: 10, estimationSamples: 20 })).toThrow(RangeError);
  });
});
