/**
 * Two simple window-level baselines for SMAP/MSL, so the model's numbers can be read
 * against something cheap. Windows use the project's layout (see `Window` in
 * src/ingest/types.ts): channel-major, data[c * length + i], oldest step first.
 */
import { InputError } from '../util/errors.js';

/** Normal-consistency constant: 1.4826 · MAD estimates σ for Gaussian data. */
const MAD_TO_SIGMA = 1.4826;

/**
 * Cuts windows of `windowLength` steps every `stride` steps from a channel-major series
 * (values[c * length + i]). The k-th window covers steps [k·stride, k·stride + windowLength).
 */
export function slidingWindows(
  values: Float32Array,
  channels: number,
  length: number,
  windowLength: number,
  stride = 1,
): Float32Array[] {
  if (values.length !== channels * length) throw new InputError(`expected ${channels * length} values, got ${values.length}`);
  if (!(windowLength >= 1 && stride >= 1)) throw new InputError('windowLength and stride must be >= 1');
  const out: Float32Array[] = [];
  for (let s = 0; s + windowLength <= length; s += stride) {
    const w = new Float32Array(channels * windowLength);
    for (let c = 0; c < channels; c++) w.set(values.subarray(c * length + s, c * length + s + windowLength), c * windowLength);
    out.push(w);
  }
  return out;
}

export interface RobustZOptions {
  /** Channels to score (default: all). On SMAP/MSL, [0] keeps the telemetry channel. */
  channels?: readonly number[];
  /** Trailing history used for median/MAD (default: every step before the newest). */
  history?: number;
  /** Floor on the robust scale, so constant histories do not divide by zero. */
  minScale?: number;
}

function median(sorted: Float64Array): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/**
 * Rolling robust z-score of a window: for each selected channel, how far the newest step
 * lies from the median of the trailing history, in units of 1.4826 · MAD. Median and MAD
 * ignore the outliers a mean/std history would absorb. Returns the largest |z| over
 * channels.
 */
export function robustZScore(window: Float32Array, channels: number, options: RobustZOptions = {}): number {
  if (channels < 1 || window.length % channels !== 0) throw new InputError(`window of ${window.length} values is not ${channels} channels`);
  const length = window.length / channels;
  const history = Math.min(options.history ?? length - 1, length - 1);
  if (history < 1) throw new InputError('robust z-score needs at least one step of history');
  const minScale = options.minScale ?? 1e-6;
  const selected = options.channels ?? Array.from({ length: channels }, (_, c) => c);
  const hist = new Float64Array(history);
  let worst = 0;
  for (const c of selected) {
    if (!(c >= 0 && c < channels)) throw new InputError(`channel ${c} outside 0..${channels - 1}`);
    const base = c * length;
    for (let i = 0; i < history; i++) hist[i] = window[base + length - 1 - history + i];
    hist.sort();
    const med = median(hist);
    for (let i = 0; i < history; i++) hist[i] = Math.abs(hist[i] - med);
    hist.sort();
    const scale = Math.max(MAD_TO_SIGMA * median(hist), minScale);
    const z = Math.abs(window[base + length - 1] - med) / scale;
    if (z > worst) worst = z;
  }
  return worst;
}

export interface KnnOptions {
  /** Score = distance to the k-th nearest training window (default 1). */
  k?: number;
  /** Cap on stored training windows; above it an evenly spaced subset is kept (default 2000). */
  maxTrain?: number;
  /** Floor on per-feature standard deviation (default 1e-6). */
  minStd?: number;
}

export interface KnnModel {
  k: number;
  features: number;
  mean: Float64Array;
  std: Float64Array;
  /** Standardised training windows, one after another. */
  train: Float64Array;
  trainCount: number;
}

/**
 * Stores standardised training windows for a brute-force k-NN scorer. Each flattened
 * feature (channel, step) is standardised with the training mean and std, so channels on
 * different scales weigh alike while level shifts stay visible. When there are more than
 * `maxTrain` windows, the ones at indices floor(j · count / maxTrain) are kept: the same
 * input always gives the same model, and the subset spans the whole training period.
 */
export function fitKnn(trainWindows: readonly Float32Array[], options: KnnOptions = {}): KnnModel {
  const k = options.k ?? 1;
  const maxTrain = options.maxTrain ?? 2000;
  const minStd = options.minStd ?? 1e-6;
  if (!trainWindows.length) throw new InputError('k-NN needs at least one training window');
  if (!(Number.isInteger(k) && k >= 1)) throw new InputError(`k must be a positive integer, got ${k}`);
  if (!(Number.isInteger(maxTrain) && maxTrain >= k)) throw new InputError(`maxTrain must be an integer >= k`);
  const features = trainWindows[0].length;
  for (const w of trainWindows) if (w.length !== features) throw new InputError('training windows differ in size');
  if (trainWindows.length < k) throw new InputError(`k = ${k} exceeds the ${trainWindows.length} training windows`);

  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  for (const w of trainWindows) for (let f = 0; f < features; f++) mean[f] += w[f];
  for (let f = 0; f < features; f++) mean[f] /= trainWindows.length;
  for (const w of trainWindows) for (let f = 0; f < features; f++) std[f] += (w[f] - mean[f]) ** 2;
  for (let f = 0; f < features; f++) std[f] = Math.max(Math.sqrt(std[f] / trainWindows.length), minStd);

  const count = Math.min(trainWindows.length, maxTrain);
  const train = new Float64Array(count * features);
  for (let j = 0; j < count; j++) {
    const w = trainWindows[Math.floor((j * trainWindows.length) / count)];
    for (let f = 0; f < features; f++) train[j * features + f] = (w[f] - mean[f]) / std[f];
  }
  return { k, features, mean, std, train, trainCount: count };
}

/** Euclidean distance (in standardised units) from a window to its k-th nearest training window. */
export function knnScore(model: KnnModel, window: Float32Array): number {
  const { features, k, train, trainCount, mean, std } = model;
  if (window.length !== features) throw new InputError(`window has ${window.length} values, model expects ${features}`);
  const x = new Float64Array(features);
  for (let f = 0; f < features; f++) x[f] = (window[f] - mean[f]) / std[f];
  // k smallest squared distances, ascending; k is small so insertion beats a heap.
  const nearest = new Float64Array(k).fill(Infinity);
  for (let j = 0; j < trainCount; j++) {
    const off = j * features;
    const bound = nearest[k - 1];
    let d = 0;
    for (let f = 0; f < features && d < bound; f++) {
      const diff = x[f] - train[off + f];
      d += diff * diff;
    }
    if (d >= bound) continue;
    let p = k - 1;
    while (p > 0 && nearest[p - 1] > d) {
      nearest[p] = nearest[p - 1];
      p--;
    }
    nearest[p] = d;
  }
  return Math.sqrt(nearest[k - 1]);
}
