/**
 * From window scores to row scores, and the post-processing that turns them into the
 * reported anomaly score.
 *
 * Windows overlap; a row lies in up to W / hop windows. The score of row i is the score
 * of the newest window that ends at or before row i: the score a streaming detector has
 * available at the time of row i (causal; no later window is used). With hop 1 that is
 * the window ending exactly at row i. Rows before the first window (the first W - 1 rows
 * of a stream) get `fill`, a value below every real score, so they are never flagged.
 */
import { AnomalyLikelihood, logLikelihood } from '../scoring/likelihood.js';
import { InputError } from '../util/errors.js';
import type { PostprocessConfig } from './config.js';

/** Row scores from window scores; `windowEnd` must be non-decreasing. */
export function windowScoresToRows(rows: number, windowEnd: ArrayLike<number>, windowScore: ArrayLike<number>, fill = 0): Float64Array {
  if (windowEnd.length !== windowScore.length) throw new InputError(`${windowEnd.length} window ends for ${windowScore.length} scores`);
  const out = new Float64Array(rows).fill(fill);
  let w = -1;
  for (let i = 0; i < rows; i++) {
    while (w + 1 < windowEnd.length && windowEnd[w + 1] <= i) {
      if (w >= 0 && windowEnd[w + 1] < windowEnd[w]) throw new InputError('window ends must not decrease');
      w++;
    }
    if (w >= 0) out[i] = windowScore[w];
  }
  return out;
}

/**
 * Numenta's anomaly likelihood over a stream of window scores, with NAB's numenta
 * detector settings: the learning period is the first half of the probationary windows,
 * the estimation samples the second half (at least 1 each).
 */
export function likelihoodScores(scores: ArrayLike<number>, probationaryWindows: number, cfg: PostprocessConfig): Float64Array {
  const p = Math.max(2, probationaryWindows);
  const learningPeriod = Math.floor(p / 2);
  const al = new AnomalyLikelihood({
    learningPeriod,
    estimationSamples: p - learningPeriod,
    historicWindowSize: Math.max(cfg.likelihood.historicWindowSize, p),
    reestimationPeriod: cfg.likelihood.reestimationPeriod,
    averagingWindow: cfg.likelihood.averagingWindow,
  });
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const l = al.probability(scores[i]);
    out[i] = cfg.logLikelihood ? logLikelihood(l) : l;
  }
  return out;
}

/**
 * Numenta's spatial anomaly: 1 where a value leaves the range of all earlier values by
 * more than `tolerance` times that range (NAB's numenta detector, spatialTolerance 0.05).
 */
export function spatialAnomalies(values: ArrayLike<number>, tolerance: number): Uint8Array {
  const out = new Uint8Array(values.length);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    if (min !== max && Number.isFinite(min)) {
      const tol = (max - min) * tolerance;
      if (v > max + tol || v < min - tol) out[i] = 1;
    }
    if (v > max) max = v;
    if (v < min) min = v;
  }
  return out;
}

/**
 * Cap of the surprise fed to the anomaly likelihood (likelihoodInput: surprise, NAB): the
 * likelihood fits a normal distribution to recent values, and a few huge surprises would
 * inflate its spread. Only there: rankings and fusion use the uncapped surprise
 * (UnitResult.surprise, src/scoring/calibration.ts calibratedSurprise).
 */
export const MAX_SURPRISE = 12;

/** -log10 of a calibrated score's tail probability (1 - score), capped at MAX_SURPRISE: the likelihood's input. */
export function surprise(calibrated: number): number {
  const p = 1 - calibrated;
  return p <= 10 ** -MAX_SURPRISE ? MAX_SURPRISE : Math.min(MAX_SURPRISE, -Math.log10(p));
}

export interface PostprocessInput {
  rows: number;
  windowEnd: ArrayLike<number>;
  raw: ArrayLike<number>;
  score: ArrayLike<number>;
  /** Rows the detector may learn from before it is judged (NAB's probation). */
  probationaryRows: number;
  /** The row values of a univariate stream, for the spatial check. */
  values?: ArrayLike<number>;
}

/**
 * The reported per-row score under a post-processing setting. Everything here is causal:
 * a row's score depends on that row and earlier ones only.
 */
export function postprocessRows(input: PostprocessInput, cfg: PostprocessConfig): Float64Array {
  let perWindow: ArrayLike<number>;
  if (cfg.output === 'none') perWindow = new Float64Array(input.windowEnd.length);
  else if (cfg.output === 'raw') perWindow = input.raw;
  else if (cfg.output === 'calibrated') perWindow = input.score;
  else {
    let probWindows = 0;
    while (probWindows < input.windowEnd.length && input.windowEnd[probWindows] < input.probationaryRows) probWindows++;
    const src = cfg.likelihoodInput === 'surprise' ? Float64Array.from(input.score, surprise) : input.score;
    perWindow = likelihoodScores(src, probWindows, cfg);
  }
  const rows = windowScoresToRows(input.rows, input.windowEnd, perWindow, 0);
  if (cfg.spatialTolerance !== null && input.values) {
    const spatial = spatialAnomalies(input.values, cfg.spatialTolerance);
    for (let i = 0; i < rows.length; i++) if (spatial[i]) rows[i] = Math.max(rows[i], 1);
  }
  if (cfg.refractory.rows > 0) suppressRefractory(rows, cfg.refractory.rows, cfg.refractory.level);
  return rows;
}

/** In place: after a row at or above `level`, the next `span` rows become 0 (causal). */
export function suppressRefractory(rows: Float64Array, span: number, level: number): void {
  let last = -Infinity;
  for (let i = 0; i < rows.length; i++) {
    if (i - last <= span) rows[i] = 0;
    else if (rows[i] >= level) last = i;
  }
}
