/**
 * Calibration of raw scores on held-out normal windows: an empirical distribution for the
 * body and a generalised Pareto tail (peaks over threshold) beyond `tailQuantile`, so
 * that thresholds for small false-alarm rates extrapolate past the largest score seen.
 *
 * Calibrated score = 1 - P(raw score of a normal window >= s), in [0, 1]. The threshold
 * for a target false-alarm rate q sits at calibrated score 1 - q on every model, which is
 * what makes scores of different streams and models comparable.
 */
import type { Calibration, TailFit } from '../model/artifact.js';

export type { Calibration, TailFit };

/** xi is kept within [-0.5, 0.5], where both estimators are reliable. */
const XI_MIN = -0.5;
const XI_MAX = 0.5;

/**
 * GPD fit by probability-weighted moments (Hosking & Wallis 1987): never fails to return,
 * and steadier than maximum likelihood on a handful of points. Used below
 * `ML_MIN_EXCESSES` excesses.
 */
export function fitGpdPwm(excesses: number[]): { sigma: number; xi: number } {
  const y = [...excesses].sort((a, b) => a - b);
  const n = y.length;
  const a0 = y.reduce((s, v) => s + v, 0) / n;
  if (n < 3 || a0 <= 0) return { sigma: Math.max(a0, 1e-12), xi: 0 };
  let a1 = 0;
  for (let i = 0; i < n; i++) a1 += ((n - 1 - i) / (n - 1)) * y[i];
  a1 /= n;
  const d = a0 - 2 * a1;
  if (d <= 0) return { sigma: a0, xi: 0 };
  let xi = a0 / d - 2;
  xi = Math.max(XI_MIN, Math.min(XI_MAX, xi));
  // Re-derive sigma from the mean excess for the clamped xi: E[Y] = sigma / (1 - xi).
  return { sigma: Math.max(a0 * (1 - xi), 1e-12), xi };
}

/** Fewer excesses than this are fitted by PWM (maximum likelihood is unstable on a few points). */
export const ML_MIN_EXCESSES = 25;

/** Negative log-likelihood of GPD(sigma, xi) for excesses y (Infinity outside the support). */
function gpdNll(y: readonly number[], sigma: number, xi: number): number {
  let t = y.length * Math.log(sigma);
  if (Math.abs(xi) < 1e-9) {
    for (const v of y) t += v / sigma;
    return t;
  }
  const k = 1 / xi + 1;
  for (const v of y) {
    const b = 1 + (xi * v) / sigma;
    if (b <= 0) return Infinity;
    t += k * Math.log(b);
  }
  return t;
}

/** Golden-section minimum of f on [lo, hi] (f unimodal there). */
function goldenMin(f: (x: number) => number, lo: number, hi: number, iterations: number): { x: number; f: number } {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < iterations; i++) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const x = (a + b) / 2;
  return { x, f: f(x) };
}

/**
 * GPD fit to peaks over a threshold: maximum likelihood (profile likelihood over xi in
 * [-0.5, 0.5], sigma by a 1-D search for each xi) from `ML_MIN_EXCESSES` excesses on, PWM
 * below. Why not PWM throughout: on the reconstruction errors of held-out windows (~120
 * excesses of strongly overlapping windows) PWM put xi at +0.05..+0.34 where maximum
 * likelihood finds -0.4..-0.04, and thresholds for a 0.1 % target flagged 0 of 40,000
 * fresh normal windows on every one of 4 trained models (maximum likelihood: 0.15x-3x of
 * the target averaged over phases; docs/evaluation.md, "Calibration tail").
 */
export type TailFitMethod = 'ml' | 'pwm';

export function fitGpd(excesses: number[], method: TailFitMethod = 'ml'): { sigma: number; xi: number } {
  const y = excesses.filter((v) => v > 0);
  if (method === 'pwm' || y.length < ML_MIN_EXCESSES) return fitGpdPwm(excesses);
  let max = 0;
  let mean = 0;
  for (const v of y) {
    if (v > max) max = v;
    mean += v;
  }
  mean /= y.length;
  // For each xi the sigma that fits best, searched in log space; xi < 0 needs sigma > -xi * max.
  const profile = (xi: number): { sigma: number; nll: number } => {
    const floor = xi < 0 ? -xi * max * (1 + 1e-9) : mean * 1e-3;
    const best = goldenMin((ls) => gpdNll(y, Math.exp(ls), xi), Math.log(floor), Math.log(Math.max(mean * 10, floor * 10)), 60);
    return { sigma: Math.exp(best.x), nll: best.f };
  };
  let bestXi = 0;
  let bestNll = Infinity;
  for (let xi = XI_MIN; xi <= XI_MAX + 1e-9; xi += 0.05) {
    const { nll } = profile(xi);
    if (nll < bestNll) {
      bestNll = nll;
      bestXi = xi;
    }
  }
  const refined = goldenMin((xi) => profile(xi).nll, Math.max(XI_MIN, bestXi - 0.05), Math.min(XI_MAX, bestXi + 0.05), 30);
  const xi = refined.f <= bestNll ? refined.x : bestXi;
  const fit = profile(xi);
  if (!Number.isFinite(fit.nll)) return fitGpdPwm(excesses);
  return { sigma: Math.max(fit.sigma, 1e-12), xi };
}

function gpdSurvival(excess: number, sigma: number, xi: number): number {
  if (excess <= 0) return 1;
  if (Math.abs(xi) < 1e-9) return Math.exp(-excess / sigma);
  const base = 1 + (xi * excess) / sigma;
  if (base <= 0) return 0;
  return Math.pow(base, -1 / xi);
}

function gpdQuantile(survival: number, sigma: number, xi: number): number {
  if (Math.abs(xi) < 1e-9) return -sigma * Math.log(survival);
  return (sigma / xi) * (Math.pow(survival, -xi) - 1);
}

/**
 * Relative tail probability below which a bounded tail (xi < 0) is continued exponentially,
 * at the fitted tail's hazard there. The bounded fit would give probability 0, and so no
 * order, to every score past its end point; the continuation keeps raw order there (and
 * calibratedSurprise keeps it past where the probability underflows: with surprises capped
 * at 12, SMAP/MSL's anomalous windows tied and the fused AUC-PR fell 0.530 -> 0.440,
 * docs/evaluation.md, "Calibration tail"). At the default tail (top 10 %) this depth is
 * an overall probability of 1e-4, ten times rarer than the default target, so thresholds
 * for targets down to 1e-4 are the fitted tail's.
 */
export const BOUNDED_TAIL_DEPTH = 1e-3;

/** Tail survival beyond the threshold u: the GPD, continued exponentially deep in a bounded tail. */
function tailSurvival(excess: number, sigma: number, xi: number): number {
  if (xi > -1e-9) return gpdSurvival(excess, sigma, xi);
  const yc = gpdQuantile(BOUNDED_TAIL_DEPTH, sigma, xi);
  if (excess <= yc) return gpdSurvival(excess, sigma, xi);
  // The GPD's hazard 1 / (sigma + xi y) at yc (finite: yc lies before the end point sigma / -xi).
  return BOUNDED_TAIL_DEPTH * Math.exp(-(excess - yc) / (sigma + xi * yc));
}

/** Inverse of tailSurvival. */
function tailExcessAt(survival: number, sigma: number, xi: number): number {
  if (xi > -1e-9 || survival >= BOUNDED_TAIL_DEPTH) return gpdQuantile(survival, sigma, xi);
  const yc = gpdQuantile(BOUNDED_TAIL_DEPTH, sigma, xi);
  return yc + (sigma + xi * yc) * Math.log(BOUNDED_TAIL_DEPTH / survival);
}

const BODY_PROBS = Array.from({ length: 101 }, (_, i) => i / 100);

function quantile(sorted: number[], p: number): number {
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function calibrate(rawScores: ArrayLike<number>, targetFalseAlarmRate: number, tailQuantile: number, tailFit: TailFitMethod = 'ml'): Calibration {
  const sorted = Array.from(rawScores).filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) throw new Error('calibration needs at least one held-out score');
  const quantiles = BODY_PROBS.map((p) => quantile(sorted, p));
  let tail: TailFit | null = null;
  const u = quantile(sorted, tailQuantile);
  const exc = sorted.filter((v) => v > u).map((v) => v - u);
  // Fewer than 10 peaks make the tail fit noise; the empirical maximum is used instead.
  if (exc.length >= 10) {
    const { sigma, xi } = fitGpd(exc, tailFit);
    tail = { u, exceedRate: exc.length / n, sigma, xi, excesses: exc.length };
  }
  const cal: Calibration = {
    n,
    probs: BODY_PROBS,
    quantiles,
    tail,
    targetFalseAlarmRate,
    thresholdRaw: 0,
    threshold: 1 - targetFalseAlarmRate,
  };
  cal.thresholdRaw = rawThreshold(cal, targetFalseAlarmRate);
  return cal;
}

/** Raw score whose exceedance probability under the calibration is `rate`. */
export function rawThreshold(cal: Calibration, rate: number): number {
  const t = cal.tail;
  if (t && rate < t.exceedRate) return t.u + tailExcessAt(rate / t.exceedRate, t.sigma, t.xi);
  const p = 1 - rate;
  if (p >= 1) return cal.quantiles[cal.quantiles.length - 1];
  const pos = p * (cal.probs.length - 1);
  const lo = Math.floor(pos);
  return cal.quantiles[lo] + (cal.quantiles[lo + 1] - cal.quantiles[lo]) * (pos - lo);
}

/** P(normal raw score >= raw) under the calibration. */
export function exceedanceProbability(cal: Calibration, raw: number): number {
  const t = cal.tail;
  if (t && raw > t.u) return t.exceedRate * tailSurvival(raw - t.u, t.sigma, t.xi);
  const q = cal.quantiles;
  if (raw <= q[0]) return 1;
  if (raw >= q[q.length - 1]) return t ? t.exceedRate : 1 / (cal.n + 1);
  // Binary search for the body segment, then interpolate the CDF linearly.
  let lo = 0;
  let hi = q.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (q[mid] <= raw) lo = mid;
    else hi = mid;
  }
  const span = q[hi] - q[lo];
  const frac = span > 0 ? (raw - q[lo]) / span : 1;
  const cdf = cal.probs[lo] + (cal.probs[hi] - cal.probs[lo]) * frac;
  const floor = t ? t.exceedRate : 1 / (cal.n + 1);
  return Math.max(1 - cdf, floor);
}

export function calibratedScore(cal: Calibration, raw: number): number {
  return 1 - exceedanceProbability(cal, raw);
}

/**
 * log10 of tailSurvival, computed in log space: finite and strictly decreasing in the
 * excess however deep in the tail (tailSurvival underflows to 0 and 1 - p rounds to 1
 * long before), so surprises keep the order of raw scores.
 */
function tailLog10Survival(excess: number, sigma: number, xi: number): number {
  if (excess <= 0) return 0;
  const gpd = (y: number) => (Math.abs(xi) < 1e-9 ? -y / sigma : (-1 / xi) * Math.log1p((xi * y) / sigma)) / Math.LN10;
  if (xi > -1e-9) return gpd(excess);
  const yc = gpdQuantile(BOUNDED_TAIL_DEPTH, sigma, xi);
  if (excess <= yc) return gpd(excess);
  return Math.log10(BOUNDED_TAIL_DEPTH) - (excess - yc) / (sigma + xi * yc) / Math.LN10;
}

/** log10 P(normal raw score >= raw) under the calibration, without underflow in the tail. */
export function log10Exceedance(cal: Calibration, raw: number): number {
  const t = cal.tail;
  if (t && raw > t.u) return Math.log10(t.exceedRate) + tailLog10Survival(raw - t.u, t.sigma, t.xi);
  return Math.log10(exceedanceProbability(cal, raw));
}

/**
 * Calibrated surprise of a raw value: -log10 of its tail probability under the calibration
 * of the same statistic on normal windows (about exponential for normal windows). No cap:
 * beyond the fitted tail's reach (p < 1e-16 and beyond) windows keep the order of their raw
 * scores, which a ranking of the most anomalous windows needs. A calibration without a
 * tail (fewer than 10 peaks) is flat beyond its largest held-out score, so its surprise is
 * too. NaN raw (nothing scored) has surprise 0.
 */
export function calibratedSurprise(cal: Calibration, raw: number): number {
  if (Number.isNaN(raw)) return 0;
  return Math.max(0, -log10Exceedance(cal, raw));
}
