import { describe, expect, it } from 'vitest';
import { bucketBounds, bucketExtrema, maxPoolColumns, minMaxDownsample } from '../../src/report/downsample.js';
import { rng } from './synthetic.js';

function noise(n: number, seed = 3): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i / 50) + 0.1 * r();
  return a;
}

describe('bucketBounds', () => {
  it('tiles the index range without gaps or overlap', () => {
    for (const [n, B] of [[10, 3], [1000, 7], [7, 7], [100_003, 4000]]) {
      let prev = 0;
      for (let b = 0; b < B; b++) {
        const [lo, hi] = bucketBounds(n, B, b);
        expect(lo).toBe(prev);
        expect(hi).toBeGreaterThan(lo);
        prev = hi;
      }
      expect(prev).toBe(n);
    }
  });
});

describe('bucketExtrema', () => {
  it('gives the exact min and max of every bucket, ignoring NaN', () => {
    const n = 10_007;
    const B = 97;
    const v = noise(n);
    v[5] = NaN;
    v[500] = NaN;
    const e = bucketExtrema(v, B);
    for (let b = 0; b < B; b++) {
      const [lo, hi] = bucketBounds(n, B, b);
      const slice = Array.from(v.subarray(lo, hi)).filter((x) => !Number.isNaN(x));
      expect(e.min[b]).toBe(Math.fround(Math.min(...slice)));
      expect(e.max[b]).toBe(Math.fround(Math.max(...slice)));
      expect(v[e.argMin[b]]).toBe(e.min[b]);
      expect(v[e.argMax[b]]).toBe(e.max[b]);
    }
  });

  it('marks an all-NaN bucket as a gap', () => {
    const v = new Float32Array(40).fill(1);
    v.fill(NaN, 10, 20);
    const e = bucketExtrema(v, 4);
    expect(Number.isNaN(e.min[1])).toBe(true);
    expect(Number.isNaN(e.max[1])).toBe(true);
    expect(e.argMin[1]).toBe(-1);
    expect(e.min[0]).toBe(1);
  });
});

describe('minMaxDownsample', () => {
  it('keeps per-bucket min and max of every series, with 2 points per bucket', () => {
    const n = 1_000_000;
    const B = 4000;
    const a = noise(n, 1);
    const b = noise(n, 2);
    const d = minMaxDownsample(null, [a, b], B);
    expect(d.reduced).toBe(true);
    expect(d.x.length).toBe(2 * B);
    for (const [k, src] of [a, b].entries()) {
      const e = bucketExtrema(src, B);
      const out = d.ys[k];
      for (let i = 0; i < B; i++) {
        const pair = [out[2 * i], out[2 * i + 1]];
        expect(Math.min(...pair)).toBe(e.min[i]);
        expect(Math.max(...pair)).toBe(e.max[i]);
      }
    }
    // x holds each bucket's first and last index
    const [lo, hi] = bucketBounds(n, B, 17);
    expect(d.x[34]).toBe(lo);
    expect(d.x[35]).toBe(hi - 1);
  });

  it('never loses a single-sample spike, up or down, anywhere', () => {
    const n = 250_000;
    const B = 1000;
    for (const at of [0, 1, 12_345, 124_999, 125_000, n - 1]) {
      const v = noise(n, at + 1);
      v[at] = 1000;
      v[(at + 77_777) % n] = -1000;
      const d = minMaxDownsample(null, [v], B);
      const out = Array.from(d.ys[0]);
      expect(Math.max(...out)).toBe(1000);
      expect(Math.min(...out)).toBe(-1000);
      // and the spike sits in the bucket that holds it
      const bucket = out.indexOf(1000) >> 1;
      const [lo, hi] = bucketBounds(n, B, bucket);
      expect(at).toBeGreaterThanOrEqual(lo);
      expect(at).toBeLessThan(hi);
    }
  });

  it('orders min and max as they occur in the bucket', () => {
    const v = new Float32Array(100).fill(0);
    v[3] = 5; // max before min in bucket 0
    v[7] = -5;
    v[52] = -2; // min before max in bucket 1
    v[90] = 2;
    const d = minMaxDownsample(null, [v], 2);
    expect(Array.from(d.ys[0])).toEqual([5, -5, -2, 2]);
  });

  it('uses the given x values (timestamps) for bucket edges', () => {
    const n = 1000;
    const x = Float64Array.from({ length: n }, (_, i) => 1.7e12 + i * 1000);
    const d = minMaxDownsample(x, [noise(n)], 10);
    expect(d.x[0]).toBe(1.7e12);
    expect(d.x[19]).toBe(1.7e12 + 999_000);
  });

  it('returns short inputs unreduced, NaN preserved', () => {
    const v = Float32Array.from([1, NaN, 3]);
    const d = minMaxDownsample(null, [v], 4000);
    expect(d.reduced).toBe(false);
    expect(Array.from(d.x)).toEqual([0, 1, 2]);
    expect(Number.isNaN(d.ys[0][1])).toBe(true);
    expect(d.ys[0][2]).toBe(3);
  });

  it('rejects series of different lengths', () => {
    expect(() => minMaxDownsample(null, [new Float32Array(10), new Float32Array(11)], 2)).toThrow(RangeError);
  });
});

describe('maxPoolColumns', () => {
  it('max-pools columns per row and leaves narrow matrices alone', () => {
    const rows = 2;
    const cols = 10;
    const m = Float32Array.from({ length: rows * cols }, (_, i) => (i === 13 ? 99 : i % cols));
    const p = maxPoolColumns(m, rows, cols, 5);
    expect(p.cols).toBe(5);
    expect(Array.from(p.data.subarray(0, 5))).toEqual([1, 3, 5, 7, 9]);
    expect(Array.from(p.data.subarray(5))).toEqual([1, 99, 5, 7, 9]);
    expect(maxPoolColumns(m, rows, cols, 10).cols).toBe(10);
  });
});
