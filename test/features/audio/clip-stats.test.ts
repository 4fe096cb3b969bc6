import { describe, expect, it } from 'vitest';
import {
  HorizonPool,
  clipStatistics,
  fitClipCalibration,
  normalQuantileUpper,
  normalUpperTail,
  studentUpperTail,
  windowContribution,
  type WindowContribution,
} from '../../../src/features/audio/clip-stats.js';
import { Rng } from '../../../src/util/rng.js';

const M = 12;
const W = 6;

/** A window's contribution: normal spectrum + noise, optional band shift (dB), level and residual offset. */
function contribution(rng: Rng, o: { levelDb?: number; bandShiftDb?: number; residualShift?: number; raw?: number } = {}): WindowContribution {
  const data = new Float32Array(M * W);
  for (let m = 0; m < M; m++)
    for (let j = 0; j < W; j++) data[m * W + j] = -40 - 2 * m + (m === 5 ? (o.bandShiftDb ?? 0) : 0) + 0.5 * rng.normal();
  const residual = Float32Array.from({ length: M }, (_, m) => 0.01 * m + 0.002 * rng.normal() + (m === 3 ? (o.residualShift ?? 0) : 0));
  return windowContribution(data, M, W, (o.levelDb ?? -44) + 0.3 * rng.normal(), (o.raw ?? 0.03) * (1 + 0.01 * rng.normal()), residual);
}

function segments(seed: number, n: number, len: number): WindowContribution[][] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => contribution(rng)));
}

describe('normal distribution helpers', () => {
  it('upper tail and its inverse agree with known values', () => {
    expect(normalUpperTail(0)).toBeCloseTo(0.5, 7);
    expect(normalUpperTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalUpperTail(-1.644854)).toBeCloseTo(0.95, 6);
    for (const p of [0.5, 0.1, 0.025, 1e-3, 1e-6, 1e-12]) expect(normalUpperTail(normalQuantileUpper(p)) / p).toBeCloseTo(1, 3);
    expect(normalQuantileUpper(0)).toBe(40);
    // Student-t tails against table values; infinite df is the normal tail.
    expect(studentUpperTail(12.706, 1)).toBeCloseTo(0.025, 5);
    expect(studentUpperTail(2.015, 5)).toBeCloseTo(0.05, 4);
    expect(studentUpperTail(3.365, 5)).toBeCloseTo(0.01, 4);
    expect(studentUpperTail(-2.015, 5)).toBeCloseTo(0.95, 4);
    expect(studentUpperTail(31.6, 2)).toBeCloseTo(0.0005, 5);
    expect(studentUpperTail(1.5, Infinity)).toBe(normalUpperTail(1.5));
    expect(normalQuantileUpper(1)).toBe(-40);
  });
});

describe('clip statistics', () => {
  const cal = fitClipCalibration(segments(1, 10, 20), { use: ['error', 'peak', 'shift', 'spectrum', 'level'], falseAlarmRate: 0.001 });

  it('fits one reference per band and per statistic from the held-out segments', () => {
    expect(cal.segments).toBe(10);
    expect(cal.windowsPerSegment).toBe(20);
    expect(cal.residual.mean).toHaveLength(M);
    expect(cal.spectrum.mean[5]).toBeCloseTo(-50, 0);
    expect(cal.level.mean).toBeCloseTo(-44, 0);
    for (const r of [cal.error, cal.shift, cal.spectrumShift, cal.spectrumDb, cal.level]) expect(r.sd).toBeGreaterThan(0);
    expect(() => fitClipCalibration(segments(2, 2, 20), { falseAlarmRate: 0.01 })).toThrow(/at least 3 reference segments/);
    expect(() => fitClipCalibration(segments(2, 4, 20), { falseAlarmRate: 0.01, groups: [0, 0, 0, 0] })).toThrow(/from 2 recordings/);
  });

  it('measures spreads across recordings: segments of one recording that sit apart from the others widen the reference', () => {
    // 4 recordings × 3 segments; each recording has its own level offset.
    const rng = new Rng(5);
    const segs: WindowContribution[][] = [];
    const groups: number[] = [];
    for (let g = 0; g < 4; g++)
      for (let k = 0; k < 3; k++) {
        segs.push(Array.from({ length: 20 }, () => contribution(rng, { levelDb: -44 + 1.5 * (g - 1.5) })));
        groups.push(g);
      }
    const byRecording = fitClipCalibration(segs, { falseAlarmRate: 0.01, groups });
    expect(byRecording.level.sd).toBeGreaterThan(1);
    expect(byRecording.level.sd).toBeGreaterThanOrEqual(fitClipCalibration(segs, { falseAlarmRate: 0.01 }).level.sd);
  });

  it('normal clips stay unflagged; a louder clip is flagged by level, a changed band at equal level by spectrum, a residual shift by shift', () => {
    const rng = new Rng(7);
    const clip = (o: Parameters<typeof contribution>[1]) => Array.from({ length: 30 }, () => contribution(rng, o));
    for (let i = 0; i < 20; i++) expect(clipStatistics(clip({}), cal, null).anomaly).toBe(false);
    const loud = clipStatistics(clip({ levelDb: -39 }), cal, null);
    expect(loud).toMatchObject({ anomaly: true, top: 'level' });
    expect(loud.values.level).toBeCloseTo(-39, 0);
    const quiet = clipStatistics(clip({ levelDb: -49 }), cal, null);
    expect(quiet).toMatchObject({ anomaly: true, top: 'level' });
    const band = clipStatistics(clip({ bandShiftDb: 3 }), cal, null);
    expect(band).toMatchObject({ anomaly: true, top: 'spectrum' });
    expect(Math.abs(band.z.level)).toBeLessThan(3);
    const shift = clipStatistics(clip({ residualShift: 0.01 }), cal, null);
    expect(shift).toMatchObject({ anomaly: true, top: 'shift' });
    expect(shift.topShiftBands[0]).toBe(3);
    const louderError = clipStatistics(clip({ raw: 0.036 }), cal, null);
    expect(louderError).toMatchObject({ anomaly: true, top: 'error' });
    // Bonferroni: the combined p is K times the top statistic's tail (level counts twice).
    expect(band.combinedP).toBeCloseTo(Math.min(1, 6 * normalUpperTail(band.combinedZ)), 12);
    expect(band.combinedScore).toBeCloseTo(1 - band.combinedP, 12);
  });

  it('only members of `use` enter the combined score', () => {
    const onlyError = { ...cal, use: ['error' as const] };
    const rng = new Rng(9);
    const loud = Array.from({ length: 30 }, () => contribution(rng, { levelDb: -30 }));
    const st = clipStatistics(loud, onlyError, null);
    expect(st.z.level).toBeGreaterThan(5);
    expect(st.top).toBe('error');
    expect(st.anomaly).toBe(false);
  });

  it('a horizon pool gives exactly the offline statistics of the windows it holds', () => {
    const rng = new Rng(11);
    const ws = Array.from({ length: 25 }, (_, i) => contribution(rng, { levelDb: i > 15 ? -38 : -44 }));
    const pool = new HorizonPool(10);
    ws.forEach((w, i) => {
      pool.push(w);
      const held = ws.slice(Math.max(0, i - 9), i + 1);
      expect(pool.size).toBe(held.length);
      expect(pool.statistics(cal, null)).toEqual(clipStatistics(held, cal, null));
    });
    expect(() => new HorizonPool(0)).toThrow(RangeError);
  });
});

describe('model-free profile statistics (bandMax, profile, knn) and their calibration on many recordings', () => {
  /** A window of recording `rec` (its own per-band offsets), optionally with band 5's frames alternating ±spreadDb. */
  function recWindow(rng: Rng, offsets: number[], o: { spreadDb?: number; bandShiftDb?: number } = {}): WindowContribution {
    const data = new Float32Array(M * W);
    for (let m = 0; m < M; m++)
      for (let j = 0; j < W; j++) {
        const alt = m === 5 && o.spreadDb ? (j % 2 ? 1 : -1) * o.spreadDb : 0;
        data[m * W + j] = -40 - 2 * m + offsets[m] + (m === 8 ? (o.bandShiftDb ?? 0) : 0) + alt + 0.5 * rng.normal();
      }
    return windowContribution(data, M, W, -44 + 0.3 * rng.normal(), 0, new Float32Array(0));
  }
  const recording = (rng: Rng) => Array.from({ length: M }, () => 0.4 * rng.normal());
  /** `n` recordings cut into 4 segments of 10 windows each. */
  function spectralRefs(seed: number, n: number): { segments: WindowContribution[][]; groups: number[] } {
    const rng = new Rng(seed);
    const out = { segments: [] as WindowContribution[][], groups: [] as number[] };
    for (let g = 0; g < n; g++) {
      const off = recording(rng);
      for (let k = 0; k < 4; k++) {
        out.segments.push(Array.from({ length: 10 }, () => recWindow(rng, off)));
        out.groups.push(g);
      }
    }
    return out;
  }
  const heldOut = segments(21, 6, 10).map((seg, i) => seg.map((c) => ({ ...c, raw: 0.03 + 0.001 * i })));

  it('profile flags a wider spread in one band at an unchanged mean; spectrum does not', () => {
    const cal = fitClipCalibration(heldOut, { falseAlarmRate: 0.001, groups: [0, 0, 1, 1, 2, 2], spectral: spectralRefs(22, 10), use: ['profile', 'spectrum', 'level'] });
    expect(cal.spectralRecordings).toBe(10);
    expect(cal.spectralSegments).toBe(40);
    expect(cal.profile?.mean).toHaveLength(2 * M);
    expect(cal.profileRefs).toHaveLength(40);
    const rng = new Rng(23);
    const off = recording(rng);
    const wide = clipStatistics(Array.from({ length: 30 }, () => recWindow(rng, off, { spreadDb: 3 })), cal, null);
    expect(wide).toMatchObject({ anomaly: true, top: 'profile' });
    expect(wide.z.spectrum).toBeLessThan(3);
    expect(wide.z.knn).toBeGreaterThan(2);
    // A single changed band: bandMax sees it however many bands there are.
    const band = clipStatistics(Array.from({ length: 30 }, () => recWindow(rng, off, { bandShiftDb: 6 })), cal, null);
    expect(band.z.bandMax).toBeGreaterThan(3);
  });

  it('calibrated on 10 recordings, new normal recordings are flagged near the nominal rate (and not far above it)', () => {
    const use = ['spectrum', 'spectrumDb', 'bandMax', 'profile', 'knn', 'level'] as const;
    const rng = new Rng(24);
    const rates = [0.05, 0.01];
    for (const rate of rates) {
      const cal = fitClipCalibration(heldOut, { falseAlarmRate: rate, groups: [0, 0, 1, 1, 2, 2], spectral: spectralRefs(25, 10), use: [...use] });
      let flagged = 0;
      const n = 300;
      for (let i = 0; i < n; i++) {
        const off = recording(rng);
        if (clipStatistics(Array.from({ length: 10 }, () => recWindow(rng, off)), cal, null).anomaly) flagged++;
      }
      // Bonferroni over 7 tests is conservative: at most twice the nominal rate (plus sampling slack of 300 draws).
      expect(flagged / n, `flagged share at nominal ${rate}`).toBeLessThanOrEqual(2 * rate + 0.01);
    }
  });

  it('calibrations written before these statistics give them z 0, not NaN', () => {
    const cal = fitClipCalibration(segments(1, 10, 20), { falseAlarmRate: 0.01 });
    const { profile: _p, profileRefs: _r, bandMax: _b, profileDist: _d, knn: _k, ...old } = cal;
    const st = clipStatistics(segments(3, 1, 20)[0], old, null);
    expect(st.z.profile).toBe(0);
    expect(st.z.knn).toBe(0);
    expect(st.z.bandMax).toBe(0);
  });
});
