/**
 * SPOT and DSPOT: streaming thresholds from extreme value theory (Siffer, Fouque, Termier,
 * Largouët, "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017).
 *
 * Calibration on n scores: the initial threshold t is a high empirical quantile (default
 * 0.98); the excesses over t (peaks) are fitted with a generalized Pareto distribution
 * GPD(gamma, sigma) by maximum likelihood using Grimshaw's reduction to a one-dimensional
 * root search; the alarm threshold for risk q is
 *   z_q = t + sigma / gamma * ((q n / N_t)^(-gamma) - 1)     (gamma != 0)
 *   z_q = t - sigma * ln(q n / N_t)                            (gamma == 0)
 * with N_t the number of peaks. When the Grimshaw search finds nothing usable (too few
 * peaks, degenerate sample) the fit falls back to the method of moments, then to an
 * exponential tail (gamma = 0, sigma = mean excess).
 *
 * Streaming, per score x:
 * - x > z_q: flagged as an anomaly; the model is NOT updated (the gate keeps anomalies out
 *   of the tail estimate);
 * - t < x <= z_q: x - t joins the peaks, n grows, the GPD is refitted, z_q updated;
 * - x <= t: n grows (z_q moves with n / N_t, no refit needed).
 * Peaks are kept in a bounded buffer (default 2000, the most recent) so a long-running
 * daemon does not grow without limit; n and N_t still count everything.
 *
 * Known property of the gate (as in the paper): normal scores above z_q never reach the
 * peaks, so the tail sample is truncated at z_q and the fitted shape drifts slightly negative
 * over long runs (z_q a little low, false-alarm rate up to a few times q). Recalibrate
 * periodically from recent normal scores if that matters.
 *
 * DSPOT handles drift: it keeps a moving window of the last d normal (not flagged) scores and
 * runs SPOT on x - mean(window). Flagged scores do not enter the window either.
 */

export interface GpdFit {
  gamma: number;
  sigma: number;
  logLikelihood: number;
  method: 'grimshaw' | 'moments' | 'exponential';
}

export interface SpotOptions {
  /** Risk: the target probability that a normal score exceeds z_q. Default 1e-4. */
  q?: number;
  /** Level of the empirical quantile used as the initial threshold t. Default 0.98. */
  level?: number;
  /** Most recent peaks kept for the fit (each refit is O(peaks)). Default 2000. */
  maxPeaks?: number;
}

export interface SpotStep {
  /** The value SPOT compared: the score (SPOT) or the score minus the drift (DSPOT). */
  value: number;
  /** Threshold z_q the value was compared with (before any update by this value). */
  threshold: number;
  /** True when value > z_q (the model was not updated). */
  anomaly: boolean;
}

/** Log-likelihood of excesses y under GPD(gamma, sigma); -Infinity outside the support. */
export function gpdLogLikelihood(y: ArrayLike<number>, gamma: number, sigma: number): number {
  const n = y.length;
  if (!(sigma > 0)) return -Infinity;
  if (gamma === 0) {
    let s = 0;
    for (let i = 0; i < n; i++) s += y[i];
    return -n * Math.log(sigma) - s / sigma;
  }
  const tau = gamma / sigma;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const a = 1 + tau * y[i];
    if (!(a > 0)) return -Infinity;
    s += Math.log(a);
  }
  return -n * Math.log(sigma) - (1 + 1 / gamma) * s;
}

function uv(y: ArrayLike<number>, x: number): { u: number; v: number } {
  let sl = 0;
  let si = 0;
  for (let i = 0; i < y.length; i++) {
    const s = 1 + x * y[i];
    sl += Math.log(s);
    si += 1 / s;
  }
  return { u: 1 + sl / y.length, v: si / y.length };
}

/** Grimshaw's function w(x) = u(x) v(x) - 1; its non-zero roots give the GPD MLE candidates. */
function grimshawW(y: ArrayLike<number>, x: number): number {
  const { u, v } = uv(y, x);
  return u * v - 1;
}

/** Roots of f between consecutive grid points (sorted) with a sign change, refined by bisection. */
function gridRoots(f: (x: number) => number, grid: number[]): number[] {
  const roots: number[] = [];
  let x0 = grid[0];
  let f0 = f(x0);
  for (let k = 1; k < grid.length; k++) {
    const x1 = grid[k];
    const f1 = f(x1);
    if (Number.isFinite(f0) && Number.isFinite(f1) && f0 * f1 < 0) {
      let a = x0;
      let b = x1;
      let fa = f0;
      for (let it = 0; it < 50 && b - a > 1e-12 * Math.max(Math.abs(a), Math.abs(b)); it++) {
        const m = 0.5 * (a + b);
        const fm = f(m);
        if (fm === 0) {
          a = b = m;
          break;
        }
        if (fa * fm < 0) {
          b = m;
        } else {
          a = m;
          fa = fm;
        }
      }
      roots.push(0.5 * (a + b));
    }
    x0 = x1;
    f0 = f1;
  }
  return roots;
}

/** `count` points spaced geometrically from lo to hi (both > 0). */
function geomspace(lo: number, hi: number, count: number): number[] {
  const out: number[] = [];
  const r = Math.log(hi / lo);
  for (let i = 0; i < count; i++) out.push(lo * Math.exp((r * i) / (count - 1)));
  return out;
}

/** Method-of-moments GPD estimate (valid for gamma < 1/2). */
function momentsFit(y: ArrayLike<number>): GpdFit | null {
  const n = y.length;
  if (n < 2) return null;
  let m = 0;
  for (let i = 0; i < n; i++) m += y[i];
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (y[i] - m) ** 2;
  v /= n - 1;
  if (!(v > 0) || !(m > 0)) return null;
  const r = (m * m) / v;
  const gamma = 0.5 * (1 - r);
  const sigma = 0.5 * m * (r + 1);
  const ll = gpdLogLikelihood(y, gamma, sigma);
  return Number.isFinite(ll) ? { gamma, sigma, logLikelihood: ll, method: 'moments' } : null;
}

/**
 * Maximum-likelihood GPD fit of the excesses y (all > 0) by Grimshaw's method: the roots x of
 * w(x) = u(x) v(x) - 1, with u = 1 + mean(log(1 + x y)) and v = mean(1 / (1 + x y)), give
 * candidates gamma = u(x) - 1, sigma = gamma / x; they are compared with the exponential
 * (gamma = 0) fit by log-likelihood. (Siffer's reference code searches the positive side
 * from 2(mean - min)/(mean min) up, which misses the root when min is small; the whole
 * interval is scanned here.) Falls back to moments, then exponential.
 */
export function fitGpd(y: ArrayLike<number>, gridPoints = 32): GpdFit {
  const n = y.length;
  if (n === 0) return { gamma: 0, sigma: 1, logLikelihood: 0, method: 'exponential' };
  let ymin = Infinity;
  let ymax = -Infinity;
  let ymean = 0;
  for (let i = 0; i < n; i++) {
    ymin = Math.min(ymin, y[i]);
    ymax = Math.max(ymax, y[i]);
    ymean += y[i];
  }
  ymean /= n;
  const expo: GpdFit = {
    gamma: 0,
    sigma: ymean > 0 ? ymean : 1e-12,
    logLikelihood: gpdLogLikelihood(y, 0, ymean > 0 ? ymean : 1e-12),
    method: 'exponential',
  };
  if (n < 3 || !(ymax > ymin) || !(ymin > 0)) {
    // Degenerate sample: Grimshaw's bounds need distinct, positive excesses.
    const mom = n >= 3 ? momentsFit(y) : null;
    return mom && mom.logLikelihood > expo.logLikelihood ? mom : expo;
  }
  // w(x) = 0 at x = 0 always and is flat there; the MLE roots lie in (-1/Y_max, 0) and
  // (0, 2(mean - min)/min^2] (Grimshaw 1993). Scan both with grids dense near 0 and near the
  // pole, in units of 1/Y_max and 1/mean.
  const w = (x: number) => grimshawW(y, x);
  const pole = 1 / ymax;
  const neg = geomspace(1e-7, 1 - 1e-7, gridPoints).map((s) => -pole * s).reverse();
  const hi = (2 * (ymean - ymin)) / (ymin * ymin);
  const lo = Math.min(1e-6 / ymean, hi / 2);
  const candidates = [...gridRoots(w, neg), ...(hi > lo ? gridRoots(w, geomspace(lo, hi, gridPoints)) : [])];
  let best: GpdFit = expo;
  for (const x of candidates) {
    if (x === 0) continue;
    const gamma = uv(y, x).u - 1;
    const sigma = gamma / x;
    const ll = gpdLogLikelihood(y, gamma, sigma);
    if (Number.isFinite(ll) && ll > best.logLikelihood) best = { gamma, sigma, logLikelihood: ll, method: 'grimshaw' };
  }
  if (best.method === 'exponential') {
    const mom = momentsFit(y);
    if (mom && mom.logLikelihood > best.logLikelihood) best = mom;
  }
  return best;
}

/** z_q from the POT formula. */
export function potQuantile(t: number, fit: Pick<GpdFit, 'gamma' | 'sigma'>, q: number, n: number, nt: number): number {
  if (nt === 0) return t;
  const r = (q * n) / nt;
  if (Math.abs(fit.gamma) < 1e-12) return t - fit.sigma * Math.log(r);
  return t + (fit.sigma / fit.gamma) * (Math.pow(r, -fit.gamma) - 1);
}

/** Streaming Peaks-Over-Threshold. */
export class Spot {
  readonly q: number;
  readonly level: number;
  readonly maxPeaks: number;
  /** Initial (POT) threshold t; fixed after calibration. */
  private t = NaN;
  private z = NaN;
  private n = 0;
  private nt = 0;
  private peaks: Float64Array;
  private peakCount = 0;
  private peakHead = 0;
  private fitResult: GpdFit | null = null;

  constructor(opts: SpotOptions = {}) {
    this.q = opts.q ?? 1e-4;
    this.level = opts.level ?? 0.98;
    this.maxPeaks = opts.maxPeaks ?? 2000;
    if (!(this.q > 0 && this.q < 1)) throw new RangeError('SPOT: q must be in (0, 1)');
    if (!(this.level > 0 && this.level < 1)) throw new RangeError('SPOT: level must be in (0, 1)');
    if (!Number.isInteger(this.maxPeaks) || this.maxPeaks < 3) throw new RangeError('SPOT: maxPeaks must be an integer >= 3');
    this.peaks = new Float64Array(Math.min(this.maxPeaks, 64));
  }

  get calibrated(): boolean {
    return this.fitResult !== null;
  }
  /** Alarm threshold z_q (NaN before calibration). */
  get threshold(): number {
    return this.z;
  }
  /** Initial POT threshold t. */
  get initialThreshold(): number {
    return this.t;
  }
  get fit(): GpdFit | null {
    return this.fitResult;
  }
  /** Observations counted (n) and peaks counted (N_t). */
  get observations(): number {
    return this.n;
  }
  get peakTotal(): number {
    return this.nt;
  }

  /** Calibrate on an initial batch of (normal) scores. Needs enough values for some peaks. */
  calibrate(values: ArrayLike<number>): void {
    const n = values.length;
    if (n < 10) throw new RangeError(`SPOT: calibration needs at least 10 values, got ${n}`);
    const sorted = Float64Array.from(values).sort();
    this.t = sorted[Math.min(n - 1, Math.floor(this.level * n))];
    this.n = n;
    this.nt = 0;
    this.peakCount = 0;
    this.peakHead = 0;
    for (let i = 0; i < n; i++) if (values[i] > this.t) this.addPeak(values[i] - this.t);
    this.refit();
  }

  /** Score one value: flag it when above z_q, else update the model. */
  step(x: number): SpotStep {
    if (!this.fitResult) throw new Error('SPOT: calibrate() first');
    const threshold = this.z;
    if (!Number.isFinite(x)) return { value: x, threshold, anomaly: false };
    if (x > this.z) return { value: x, threshold, anomaly: true };
    this.n++;
    if (x > this.t) {
      this.addPeak(x - this.t);
      this.refit();
    } else {
      this.z = potQuantile(this.t, this.fitResult, this.q, this.n, this.nt);
    }
    return { value: x, threshold, anomaly: false };
  }

  private addPeak(y: number): void {
    this.nt++;
    if (this.peakCount < this.maxPeaks) {
      if (this.peakCount === this.peaks.length) {
        const grown = new Float64Array(Math.min(this.maxPeaks, this.peaks.length * 2));
        grown.set(this.peaks);
        this.peaks = grown;
      }
      this.peaks[this.peakCount++] = y;
    } else {
      this.peaks[this.peakHead] = y;
      this.peakHead = (this.peakHead + 1) % this.maxPeaks;
    }
  }

  private refit(): void {
    const y = this.peaks.subarray(0, this.peakCount);
    this.fitResult = fitGpd(y);
    this.z = potQuantile(this.t, this.fitResult, this.q, this.n, this.nt);
  }
}

export interface DspotOptions extends SpotOptions {
  /** Depth of the moving average that models the drift. Default 10. */
  depth?: number;
}

/** SPOT on the residual of a moving-average drift model. */
export class Dspot {
  readonly depth: number;
  readonly spot: Spot;
  private readonly window: Float64Array;
  private head = 0;
  private total = 0;

  constructor(opts: DspotOptions = {}) {
    this.depth = opts.depth ?? 10;
    if (!Number.isInteger(this.depth) || this.depth < 1) throw new RangeError('DSPOT: depth must be an integer >= 1');
    this.spot = new Spot(opts);
    this.window = new Float64Array(this.depth);
  }

  get calibrated(): boolean {
    return this.spot.calibrated;
  }
  /** Current drift estimate M (mean of the last d normal values). */
  get drift(): number {
    return this.total / this.depth;
  }
  /** Alarm threshold on the original scale: drift + z_q. */
  get threshold(): number {
    return this.drift + this.spot.threshold;
  }

  /**
   * Calibrate on at least depth + 10 values: the first `depth` fill the window, the rest
   * are turned into residuals (sliding the window) for SPOT's calibration.
   */
  calibrate(values: ArrayLike<number>): void {
    const d = this.depth;
    if (values.length < d + 10) throw new RangeError(`DSPOT: calibration needs at least depth + 10 = ${d + 10} values`);
    this.total = 0;
    for (let i = 0; i < d; i++) {
      this.window[i] = values[i];
      this.total += values[i];
    }
    this.head = 0;
    const residuals = new Float64Array(values.length - d);
    for (let i = d; i < values.length; i++) {
      residuals[i - d] = values[i] - this.drift;
      this.slide(values[i]);
    }
    this.spot.calibrate(residuals);
  }

  /** Score one value; the threshold reported is on the original scale. */
  step(x: number): SpotStep {
    const m = this.drift;
    const r = this.spot.step(x - m);
    if (!r.anomaly && Number.isFinite(x)) this.slide(x);
    return { value: r.value, threshold: r.threshold + m, anomaly: r.anomaly };
  }

  private slide(x: number): void {
    this.total += x - this.window[this.head];
    this.window[this.head] = x;
    this.head = (this.head + 1) % this.depth;
    if (this.head === 0) {
      // Recompute the sum once per lap so rounding errors cannot accumulate.
      let t = 0;
      for (let i = 0; i < this.depth; i++) t += this.window[i];
      this.total = t;
    }
  }
}
