/**
 * Calibrated surprises and their fusion: one rule for every score part a detector has
 * (the network's reconstruction error, the pooled signed residual, the window memory's
 * diffusion score).
 *
 * Each part is calibrated on normal windows (`calibrate`: empirical body + GPD tail) and
 * turned into a surprise, -log10 of its tail probability under that calibration (about
 * exponential for normal windows, unbounded above: computed in log space, so the most
 * anomalous windows keep the order of their raw scores). Fusion rule: the largest
 * surprise of the k parts minus log10(k), floored at 0: "the most surprising part, with a
 * Bonferroni correction", so a threshold at surprise -log10(q) keeps a false-alarm rate of
 * at most q when each part is calibrated. It keeps any one part's strong evidence (a
 * mixture or a mean would dilute an anomaly only one part sees).
 */
import { calibrate, calibratedSurprise, type Calibration, type TailFitMethod } from './calibration.js';

export { calibratedSurprise };

/** Fusion of k calibrated surprises: max - log10(k), at least 0. */
export function fuseSurprises(parts: ArrayLike<number>): number {
  if (parts.length === 0) return 0;
  let top = 0;
  for (let i = 0; i < parts.length; i++) if (parts[i] > top) top = parts[i];
  return Math.max(0, top - Math.log10(parts.length));
}

/**
 * The pooled signed-residual statistic: per channel, the window's mean residual
 * x0 - x0_hat standardised by its normal-data median and spread (1.4826 MAD), a score
 * test of "this window is shifted"; the statistic is the largest |z| over channels.
 * The squared error pools residual energy and drowns a small steady shift under the
 * per-step error floor; the mean of the signed residual keeps it.
 */
export class ResidualStatistic {
  private constructor(
    readonly channels: number,
    private readonly centre: Float64Array,
    private readonly scale: Float64Array,
    readonly calibration: Calibration,
  ) {}

  /**
   * Fitted on residuals of normal windows (flattened [window, channel]); the statistic's
   * own calibration comes from the same windows.
   */
  static fit(residuals: ArrayLike<number>, channels: number, targetFalseAlarmRate: number, tailQuantile: number, tailFit: TailFitMethod = 'ml'): ResidualStatistic {
    const n = Math.floor(residuals.length / channels);
    if (n < 1) throw new Error('the residual statistic needs at least one reference window');
    const centre = new Float64Array(channels);
    const scale = new Float64Array(channels);
    const col = new Float64Array(n);
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < n; i++) col[i] = residuals[i * channels + c];
      col.sort();
      const med = col[n >> 1];
      for (let i = 0; i < n; i++) col[i] = Math.abs(col[i] - med);
      col.sort();
      centre[c] = med;
      scale[c] = Math.max(1.4826 * col[n >> 1], 1e-9);
    }
    const stat = new ResidualStatistic(channels, centre, scale, { n: 0, probs: [], quantiles: [], tail: null, targetFalseAlarmRate, thresholdRaw: 0, threshold: 0 });
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = stat.value(residuals, i * channels);
    return new ResidualStatistic(channels, centre, scale, calibrate(values, targetFalseAlarmRate, tailQuantile, tailFit));
  }

  /** max_c |z_c| of the window whose residuals start at `offset`. */
  value(residuals: ArrayLike<number>, offset = 0): number {
    let top = 0;
    for (let c = 0; c < this.channels; c++) {
      const z = Math.abs(residuals[offset + c] - this.centre[c]) / this.scale[c];
      if (z > top) top = z;
    }
    return top;
  }

  surprise(residuals: ArrayLike<number>, offset = 0): number {
    return calibratedSurprise(this.calibration, this.value(residuals, offset));
  }
}
