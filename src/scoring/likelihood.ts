/**
 * Numenta-style anomaly likelihood (Ahmad et al. 2017; nupic's
 * `algorithms/anomaly_likelihood.py`, used by NAB's numenta detector).
 *
 * Given a stream of anomaly scores, it compares the short-term moving mean of the scores
 * (last `averagingWindow` scores) with a long-term Gaussian fitted to the moving means of
 * the last `historicWindowSize` scores, and reports 1 - Q(z), Q the Gaussian tail
 * probability. It answers "how unusual is the recent level of anomaly scores", which turns a
 * noisy score into a much steadier signal.
 *
 * Behaviour matches nupic's `AnomalyLikelihood.anomalyProbability`:
 * - a flat 0.5 for the first `learningPeriod + estimationSamples` scores (probation);
 * - the Gaussian is (re-)estimated from the history (before the current score) when there is
 *   none yet and every `reestimationPeriod` iterations, skipping the records still in the
 *   learning period; mean is floored at 0.03 and variance at 0.0003;
 * - the tail probability is filtered: a value in the red zone (<= 1e-5) right after a raw
 *   value also in the red zone is raised to 1e-3, so a long anomaly reports one very high
 *   likelihood and then merely high ones;
 * - the Q-function uses erfc(z / 1.4142) as nupic does.
 * Not ported: nupic's "flat metric value" special case, which needs the raw metric value
 * (noisefloor scores multichannel windows, not one metric).
 *
 * Input scale: any score where larger means more anomalous. Feed it the calibrated score of
 * a ScoreEvent (in [0, 1]; uniform for normal windows, so its moving mean settles near 0.5).
 */

export interface AnomalyLikelihoodOptions {
  /** Scores ignored while the model settles (nupic default 288). */
  learningPeriod?: number;
  /** Scores needed after the learning period for the first estimate (default 100). */
  estimationSamples?: number;
  /** Length of the history used for estimation (default 8640). */
  historicWindowSize?: number;
  /** Re-estimate the Gaussian every this many scores (default 100). */
  reestimationPeriod?: number;
  /** Length of the short-term moving mean (default 10). */
  averagingWindow?: number;
}

export interface GaussianParams {
  mean: number;
  variance: number;
  stdev: number;
}

/** Complementary error function; fractional error below 1.2e-7 (Numerical Recipes erfcc). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const ans =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? ans : 2 - ans;
}

/** Standard normal upper tail probability Q(z) = P(Z > z). */
export function qFunction(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * nupic's `tailProbability`: probability of a sample further from the mean than x, on x's
 * side (symmetric), via erfc(z / 1.4142) exactly as nupic computes it.
 */
export function tailProbability(x: number, d: GaussianParams): number {
  if (x < d.mean) x = 2 * d.mean - x;
  const z = (x - d.mean) / d.stdev;
  return 0.5 * erfc(z / 1.4142);
}

/** Log-scale likelihood as nupic's `computeLogLikelihood` (0.5 -> ~0.03, 0.99999 -> ~0.5). */
export function logLikelihood(likelihood: number): number {
  return Math.log(1.0000000001 - likelihood) / -23.02585084720009;
}

/** nupic's `estimateNormal` with the lower-bound check. */
export function estimateNormal(values: ArrayLike<number>, from = 0, lowerBoundCheck = true): GaussianParams {
  const n = values.length - from;
  let sum = 0;
  for (let i = from; i < values.length; i++) sum += values[i];
  let mean = sum / n;
  let ss = 0;
  for (let i = from; i < values.length; i++) ss += (values[i] - sum / n) ** 2;
  let variance = ss / n;
  if (lowerBoundCheck) {
    if (mean < 0.03) mean = 0.03;
    if (variance < 0.0003) variance = 0.0003;
  }
  return { mean, variance, stdev: variance > 0 ? Math.sqrt(variance) : 0 };
}

/** nupic's `nullDistribution`: so broad that every score is likely. */
export const NULL_DISTRIBUTION: Readonly<GaussianParams> = Object.freeze({ mean: 0.5, variance: 1e6, stdev: 1e3 });

const RED = 1 - 0.99999;
const YELLOW = 1 - 0.999;

export class AnomalyLikelihood {
  readonly learningPeriod: number;
  readonly estimationSamples: number;
  readonly historicWindowSize: number;
  readonly reestimationPeriod: number;
  readonly averagingWindow: number;
  readonly probationaryPeriod: number;

  private iteration = 0;
  /** Ring buffer of the last historicWindowSize raw scores. */
  private readonly history: Float64Array;
  private historyLen = 0;
  private historyHead = 0;
  /** Short-term moving mean state. */
  private readonly maWindow: Float64Array;
  private maLen = 0;
  private maHead = 0;
  private maTotal = 0;
  private distribution: GaussianParams | null = null;
  /** Last unfiltered tail probability (the filter looks one step back). */
  private prevTail = 1;

  constructor(opts: AnomalyLikelihoodOptions = {}) {
    this.learningPeriod = opts.learningPeriod ?? 288;
    this.estimationSamples = opts.estimationSamples ?? 100;
    this.historicWindowSize = opts.historicWindowSize ?? 8640;
    this.reestimationPeriod = opts.reestimationPeriod ?? 100;
    this.averagingWindow = opts.averagingWindow ?? 10;
    for (const [k, v] of Object.entries({
      learningPeriod: this.learningPeriod,
      estimationSamples: this.estimationSamples,
    })) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`anomaly likelihood: ${k} must be an integer >= 0`);
    }
    for (const [k, v] of Object.entries({
      historicWindowSize: this.historicWindowSize,
      reestimationPeriod: this.reestimationPeriod,
      averagingWindow: this.averagingWindow,
    })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`anomaly likelihood: ${k} must be an integer >= 1`);
    }
    if (this.historicWindowSize < this.estimationSamples) {
      throw new RangeError('anomaly likelihood: estimationSamples exceeds historicWindowSize');
    }
    this.probationaryPeriod = this.learningPeriod + this.estimationSamples;
    this.history = new Float64Array(this.historicWindowSize);
    this.maWindow = new Float64Array(this.averagingWindow);
  }

  /** Scores seen so far. */
  get count(): number {
    return this.iteration;
  }

  /** The current Gaussian of moving means (null before the first estimate). */
  get params(): GaussianParams | null {
    return this.distribution ? { ...this.distribution } : null;
  }

  /** Likelihood in [0, 1] that the recent scores are anomalous; 0.5 during probation. */
  probability(score: number): number {
    let likelihood = 0.5;
    if (this.iteration >= this.probationaryPeriod) {
      if (this.distribution === null || this.iteration % this.reestimationPeriod === 0) this.estimate();
      const avg = this.pushMovingAverage(score);
      const tail = tailProbability(avg, this.distribution!);
      const filtered = tail <= RED && this.prevTail <= RED ? YELLOW : tail;
      this.prevTail = tail;
      likelihood = 1 - filtered;
    } else {
      this.pushMovingAverage(score);
    }
    this.pushHistory(score);
    this.iteration++;
    return likelihood;
  }

  private pushMovingAverage(v: number): number {
    if (this.maLen === this.averagingWindow) {
      this.maTotal -= this.maWindow[this.maHead];
    } else {
      this.maLen++;
    }
    this.maWindow[this.maHead] = v;
    this.maHead = (this.maHead + 1) % this.averagingWindow;
    this.maTotal += v;
    return this.maTotal / this.maLen;
  }

  private pushHistory(v: number): void {
    this.history[this.historyHead] = v;
    this.historyHead = (this.historyHead + 1) % this.historicWindowSize;
    if (this.historyLen < this.historicWindowSize) this.historyLen++;
  }

  /** nupic's estimateAnomalyLikelihoods over the history, with _calcSkipRecords. */
  private estimate(): void {
    const shiftedOut = Math.max(0, this.iteration - this.historicWindowSize);
    const skip = Math.min(this.iteration, Math.max(0, this.learningPeriod - shiftedOut));
    const n = this.historyLen;
    const averaged = new Float64Array(n);
    const w = this.averagingWindow;
    const start = (this.historyHead - n + this.historicWindowSize) % this.historicWindowSize;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = this.history[(start + i) % this.historicWindowSize];
      total += v;
      if (i >= w) total -= this.history[(start + i - w) % this.historicWindowSize];
      averaged[i] = total / Math.min(i + 1, w);
    }
    this.distribution = n <= skip ? { ...NULL_DISTRIBUTION } : estimateNormal(averaged, skip);
    // nupic replaces its stored likelihoods with those of the history under the new estimate.
    if (n > 0) this.prevTail = tailProbability(averaged[n - 1], this.distribution);
  }
}

/** One AnomalyLikelihood per stream, created on first use. */
export class StreamLikelihoods {
  private readonly byStream = new Map<string, AnomalyLikelihood>();
  constructor(private readonly opts: AnomalyLikelihoodOptions = {}) {}

  probability(stream: string, score: number): number {
    let al = this.byStream.get(stream);
    if (!al) {
      al = new AnomalyLikelihood(this.opts);
      this.byStream.set(stream, al);
    }
    return al.probability(score);
  }

  get(stream: string): AnomalyLikelihood | undefined {
    return this.byStream.get(stream);
  }

  delete(stream: string): boolean {
    return this.byStream.delete(stream);
  }

  get size(): number {
    return this.byStream.size;
  }
}
