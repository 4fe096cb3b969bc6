/**
 * Min/max downsampling for drawing: a series of n points becomes at most 2 points per
 * pixel bucket (the bucket's minimum and maximum, in the order they occur), so a line drawn
 * through the result covers exactly the vertical extent of the original in every bucket and
 * a one-sample spike is never lost.
 *
 * Buckets split the *index* range evenly: bucket b holds indices
 * [floor(b * n / B), floor((b + 1) * n / B)). For irregular timestamps this is an
 * approximation of pixel columns, which is fine for drawing.
 */

/** Index bounds of bucket `b` of `buckets` over `n` points: [lo, hi). */
export function bucketBounds(n: number, buckets: number, b: number): [number, number] {
  return [Math.floor((b * n) / buckets), Math.floor(((b + 1) * n) / buckets)];
}

export interface BucketExtrema {
  /** Minimum / maximum per bucket, NaN where the bucket holds no finite value. */
  min: Float32Array;
  max: Float32Array;
  /** Index (into the input) of the minimum / maximum, -1 where the bucket is all NaN. */
  argMin: Int32Array;
  argMax: Int32Array;
}

/** Minimum and maximum (ignoring NaN) of each of `buckets` equal index buckets. */
export function bucketExtrema(values: ArrayLike<number>, buckets: number): BucketExtrema {
  const n = values.length;
  const B = Math.max(1, Math.min(buckets, n));
  const min = new Float32Array(B);
  const max = new Float32Array(B);
  const argMin = new Int32Array(B);
  const argMax = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const [lo, hi] = bucketBounds(n, B, b);
    let mn = Infinity;
    let mx = -Infinity;
    let imn = -1;
    let imx = -1;
    for (let i = lo; i < hi; i++) {
      const v = values[i];
      if (v !== v) continue; // NaN
      if (v < mn) {
        mn = v;
        imn = i;
      }
      if (v > mx) {
        mx = v;
        imx = i;
      }
    }
    if (imn < 0) {
      min[b] = NaN;
      max[b] = NaN;
    } else {
      min[b] = mn;
      max[b] = mx;
    }
    argMin[b] = imn;
    argMax[b] = imx;
  }
  return { min, max, argMin, argMax };
}

export interface Downsampled {
  /** Shared x values (length 2 * buckets, or n when no downsampling was needed). */
  x: Float64Array;
  /** One array per input series, aligned with `x`; NaN marks a gap. */
  ys: Float32Array[];
  /** True when the input was reduced. */
  reduced: boolean;
}

/**
 * Downsample several series that share one x axis to 2 points per bucket. Per bucket the
 * x values are the bucket's first and last x; each series contributes its min and max in
 * the order they occur within the bucket (so the drawn line keeps the signal's shape). When
 * n <= 2 * buckets the input is returned unreduced (copied).
 *
 * @param x  x value per index, or null for the index itself
 */
export function minMaxDownsample(x: ArrayLike<number> | null, ys: ArrayLike<number>[], buckets: number): Downsampled {
  const n = ys.length ? ys[0].length : x ? x.length : 0;
  for (const y of ys) if (y.length !== n) throw new RangeError(`series lengths differ: ${y.length} vs ${n}`);
  if (x && x.length !== n) throw new RangeError(`x has ${x.length} values, series have ${n}`);
  const xAt = (i: number) => (x ? x[i] : i);
  if (n <= 2 * buckets) {
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) xs[i] = xAt(i);
    return { x: xs, ys: ys.map((y) => Float32Array.from(y)), reduced: false };
  }
  const B = buckets;
  const xs = new Float64Array(2 * B);
  for (let b = 0; b < B; b++) {
    const [lo, hi] = bucketBounds(n, B, b);
    xs[2 * b] = xAt(lo);
    xs[2 * b + 1] = xAt(hi - 1);
  }
  const out = ys.map((y) => {
    const e = bucketExtrema(y, B);
    const o = new Float32Array(2 * B);
    for (let b = 0; b < B; b++) {
      if (e.argMin[b] <= e.argMax[b]) {
        o[2 * b] = e.min[b];
        o[2 * b + 1] = e.max[b];
      } else {
        o[2 * b] = e.max[b];
        o[2 * b + 1] = e.min[b];
      }
    }
    return o;
  });
  return { x: xs, ys: out, reduced: true };
}

/** Max-pool a row-major matrix (rows × cols) along columns down to at most `maxCols`. */
export function maxPoolColumns(
  data: ArrayLike<number>,
  rows: number,
  cols: number,
  maxCols: number,
): { data: Float32Array; cols: number } {
  if (cols <= maxCols) return { data: Float32Array.from(data), cols };
  const out = new Float32Array(rows * maxCols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let b = 0; b < maxCols; b++) {
      const [lo, hi] = bucketBounds(cols, maxCols, b);
      let m = -Infinity;
      for (let i = lo; i < hi; i++) {
        const v = data[base + i];
        if (v > m) m = v;
      }
      out[r * maxCols + b] = m === -Infinity ? NaN : m;
    }
  }
  return { data: out, cols: maxCols };
}
