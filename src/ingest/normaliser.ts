import { Rng } from '../util/rng.js';

export type NormalisationMethod = 'robust' | 'standard';

/** Per-channel affine map into model space, stored in noisefloor.json. */
export interface NormalisationParams {
  method: NormalisationMethod;
  /** Median (robust) or mean (standard) per channel. */
  center: number[];
  /** IQR/1.349 (robust) or standard deviation per channel; never 0. */
  scale: number[];
}

/** Normalised values beyond this are clipped: a 1e9 spike must not overflow the network. */
export const MODEL_SPACE_CLIP = 50;

/**
 * Collects a bounded sample of each channel (reservoir sampling), so fitting the
 * normaliser on a file of any size needs fixed memory.
 */
export class NormaliserFitter {
  private readonly samples: Float64Array[];
  private readonly seen: number[];
  private readonly rng: Rng;

  constructor(
    readonly channels: number,
    readonly capacity = 200_000,
    seed = 1,
  ) {
    this.samples = Array.from({ length: channels }, () => new Float64Array(capacity));
    this.seen = new Array(channels).fill(0);
    this.rng = new Rng(seed);
  }

  add(values: ArrayLike<number>): void {
    for (let c = 0; c < this.channels; c++) {
      const v = values[c];
      if (v === undefined || Number.isNaN(v)) continue;
      const n = this.seen[c]++;
      if (n < this.capacity) this.samples[c][n] = v;
      else {
        const j = Math.floor(this.rng.next() * (n + 1));
        if (j < this.capacity) this.samples[c][j] = v;
      }
    }
  }

  fit(method: NormalisationMethod): NormalisationParams {
    const center: number[] = [];
    const scale: number[] = [];
    for (let c = 0; c < this.channels; c++) {
      const n = Math.min(this.seen[c], this.capacity);
      const xs = this.samples[c].slice(0, n).sort();
      if (n === 0) {
        center.push(0);
        scale.push(1);
        continue;
      }
      const mean = xs.reduce((a, b) => a + b, 0) / n;
      const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / Math.max(1, n - 1));
      if (method === 'robust') {
        center.push(quantileSorted(xs, 0.5));
        // IQR/1.349 equals the standard deviation for Gaussian data; fall back to std
        // when more than half the values are equal (IQR 0), e.g. a mostly flat sensor.
        const iqr = (quantileSorted(xs, 0.75) - quantileSorted(xs, 0.25)) / 1.349;
        scale.push(iqr > 1e-12 ? iqr : std > 1e-12 ? std : 1);
      } else {
        center.push(mean);
        scale.push(std > 1e-12 ? std : 1);
      }
    }
    return { method, center, scale };
  }
}

export function quantileSorted(xs: ArrayLike<number>, q: number): number {
  if (xs.length === 0) return Number.NaN;
  const pos = (xs.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}

/**
 * Maps a raw channel-major window into model space in place of `out`. NaN (leading
 * missing values) becomes 0, the channel centre.
 */
export function normaliseWindow(
  params: NormalisationParams,
  data: Float32Array,
  length: number,
  out: Float32Array = new Float32Array(data.length),
  outOffset = 0,
): Float32Array {
  const channels = params.center.length;
  for (let c = 0; c < channels; c++) {
    const m = params.center[c];
    const inv = 1 / params.scale[c];
    const base = c * length;
    for (let i = 0; i < length; i++) {
      const v = (data[base + i] - m) * inv;
      out[outOffset + base + i] = Number.isNaN(v) ? 0 : v > MODEL_SPACE_CLIP ? MODEL_SPACE_CLIP : v < -MODEL_SPACE_CLIP ? -MODEL_SPACE_CLIP : v;
    }
  }
  return out;
}
