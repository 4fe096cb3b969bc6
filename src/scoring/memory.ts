/**
 * The empirical denoiser: the exact diffusion score of a bounded per-stream memory of
 * normal windows.
 *
 * For stored windows m_1..m_N (standardised per feature) and noise level sigma, the
 * diffusion-smoothed density of the memory is the Gaussian mixture
 *   p_sigma(x) = (1/N) sum_i N(x; m_i, sigma^2 I),
 * whose optimal denoiser E[x0 | x] = sum_i softmax_i(-||x - m_i||^2 / (2 sigma^2)) m_i is
 * what a network denoiser converges to if it fits the memory exactly. The anomaly score is
 *   s(x) = sum over sigma of sigma^2 * -(logsumexp_i(-||x - m_i||^2 / (2 sigma^2)) - log N),
 * the negative log density (up to constants) at each level; the sigma^2 factor puts the
 * levels on one scale (each term tends to min_i ||x - m_i||^2 / 2 as sigma -> 0: a soft
 * nearest neighbour). Small sigma sees the nearest stored windows, large sigma the bulk.
 *
 * Memory: `capacity` slots in one Float32Array. Replacement policy: `static` fills the
 * slots once and then refuses inserts (the memory is the training data); `fifo` replaces
 * the oldest stored window (a ring), so the memory follows the stream's recent normal
 * behaviour. Which windows are inserted (old enough, not flagged) is the caller's policy;
 * `insert` only stores. The standardisation is fixed when the memory is built, so scores
 * stay on one scale however the memory changes.
 *
 * Cost per scored window: N * D multiply-adds for the squared distances (D = channels x
 * window length) plus N exponentials per noise level; no allocation (scratch buffers are
 * owned by the memory).
 */
import { InputError } from '../util/errors.js';
import { calibrate, calibratedSurprise, type Calibration, type TailFitMethod } from './calibration.js';

export type MemoryReplacement = 'static' | 'fifo';

export interface WindowMemoryOptions {
  /** Most windows kept. */
  capacity: number;
  /** Noise levels in standardised units (default 0.5, 1, 2). */
  sigmas?: readonly number[];
  replacement?: MemoryReplacement;
  /** Floor on a feature's standard deviation, relative to the mean standard deviation (default 1e-3). */
  relativeMinStd?: number;
}

/** Positions (e.g. window end rows) within [from, to] are left out of a score. */
export interface ExcludeRange {
  from: number;
  to: number;
}

export class WindowMemory {
  readonly features: number;
  readonly capacity: number;
  readonly sigmas: readonly number[];
  readonly replacement: MemoryReplacement;
  private readonly mean: Float32Array;
  private readonly invStd: Float32Array;
  private readonly store: Float32Array;
  private readonly positions: Float64Array;
  private readonly x: Float32Array;
  private readonly d2: Float64Array;
  private count = 0;
  /** Next slot the fifo policy overwrites once full. */
  private head = 0;
  private inserts = 0;

  private constructor(mean: Float32Array, std: Float32Array, opts: WindowMemoryOptions) {
    if (!(Number.isInteger(opts.capacity) && opts.capacity >= 1)) throw new InputError(`memory capacity must be a positive integer, got ${opts.capacity}`);
    this.features = mean.length;
    this.capacity = opts.capacity;
    this.sigmas = opts.sigmas ?? [0.5, 1, 2];
    if (this.sigmas.length === 0 || this.sigmas.some((s) => !(s > 0))) throw new InputError('memory noise levels must be positive');
    this.replacement = opts.replacement ?? 'static';
    this.mean = mean;
    this.invStd = Float32Array.from(std, (s) => 1 / s);
    this.store = new Float32Array(this.capacity * this.features);
    this.positions = new Float64Array(this.capacity);
    this.x = new Float32Array(this.features);
    this.d2 = new Float64Array(this.capacity);
  }

  /**
   * A memory standardised on `windows` (per-feature mean and standard deviation) and
   * filled with them; beyond `capacity`, evenly spaced ones are kept (deterministic, and
   * the kept set spans the whole period). `positions[i]` identifies window i for
   * `ExcludeRange` (its end row).
   */
  static fit(windows: readonly Float32Array[], positions: readonly number[], opts: WindowMemoryOptions): WindowMemory {
    if (windows.length === 0) throw new InputError('the window memory needs at least one window');
    if (positions.length !== windows.length) throw new InputError(`${positions.length} positions for ${windows.length} windows`);
    const D = windows[0].length;
    for (const w of windows) if (w.length !== D) throw new InputError('memory windows differ in size');
    const mean = new Float64Array(D);
    const sq = new Float64Array(D);
    for (const w of windows) for (let f = 0; f < D; f++) mean[f] += w[f];
    for (let f = 0; f < D; f++) mean[f] /= windows.length;
    for (const w of windows) for (let f = 0; f < D; f++) sq[f] += (w[f] - mean[f]) ** 2;
    const std = Float32Array.from(sq, (s) => Math.sqrt(s / windows.length));
    const avg = std.reduce((a, b) => a + b, 0) / D;
    // A flat training period has std 0: the floor keeps the scale finite (any change is then very surprising).
    const floor = Math.max(avg * (opts.relativeMinStd ?? 1e-3), 1e-9);
    for (let f = 0; f < D; f++) std[f] = Math.max(std[f], floor);
    const memory = new WindowMemory(Float32Array.from(mean), std, opts);
    const n = Math.min(windows.length, memory.capacity);
    for (let j = 0; j < n; j++) {
      const i = Math.floor((j * windows.length) / n);
      memory.put(windows[i], positions[i]);
    }
    return memory;
  }

  /** Windows stored. */
  get size(): number {
    return this.count;
  }

  /** Windows accepted by `insert` since the memory was built (excluding `fit`). */
  get inserted(): number {
    return this.inserts;
  }

  /** Bytes held by the memory's buffers (what a stream's memory adds to RSS). */
  get bytes(): number {
    return this.store.byteLength + this.positions.byteLength + this.mean.byteLength + this.invStd.byteLength + this.x.byteLength + this.d2.byteLength;
  }

  /** Floating-point operations of one `score` at the current size (distances + mixture sums). */
  get flopsPerScore(): number {
    return this.count * (3 * this.features + 4 * this.sigmas.length);
  }

  /** Stores a window (raw units). false when the static memory is full. */
  insert(window: Float32Array, position: number): boolean {
    if (window.length !== this.features) throw new InputError(`window has ${window.length} values, the memory holds ${this.features}`);
    if (this.count === this.capacity && this.replacement === 'static') return false;
    this.put(window, position);
    this.inserts++;
    return true;
  }

  private put(window: Float32Array, position: number): void {
    const slot = this.count < this.capacity ? this.count++ : this.head;
    if (this.count === this.capacity) this.head = (slot + 1) % this.capacity;
    const off = slot * this.features;
    for (let f = 0; f < this.features; f++) this.store[off + f] = (window[f] - this.mean[f]) * this.invStd[f];
    this.positions[slot] = position;
  }

  /**
   * The diffusion score of a window (raw units) against the memory; stored windows whose
   * position lies in `exclude` are left out (scoring a memory's own windows against their
   * non-overlapping neighbours). NaN when nothing is left to compare with.
   *
   * The mixture stays normalised by the whole memory (log N, not log of the windows left):
   * a live window is scored against N windows none of which overlaps it, so an excluded
   * window counts as one that contributes nothing. Normalising by what is left instead
   * biased calibration scores low on periodic streams, where the excluded neighbours are
   * the other phases (never near): a stream quiet through its warm-up then false-alarmed
   * on most windows (test/daemon/stream-memory.test.ts). Where excluded neighbours are
   * near (slow drift), this calibrates a little high: conservative.
   */
  score(window: Float32Array, exclude?: ExcludeRange): number {
    const D = this.features;
    if (window.length !== D) throw new InputError(`window has ${window.length} values, the memory holds ${D}`);
    const x = this.x;
    for (let f = 0; f < D; f++) x[f] = (window[f] - this.mean[f]) * this.invStd[f];
    const d2 = this.d2;
    const store = this.store;
    let used = 0;
    let min = Infinity;
    for (let i = 0; i < this.count; i++) {
      if (exclude && this.positions[i] >= exclude.from && this.positions[i] <= exclude.to) {
        d2[i] = -1;
        continue;
      }
      const off = i * D;
      let d = 0;
      for (let f = 0; f < D; f++) {
        const diff = x[f] - store[off + f];
        d += diff * diff;
      }
      d2[i] = d;
      if (d < min) min = d;
      used++;
    }
    if (used === 0) return Number.NaN;
    const logN = Math.log(this.count);
    let total = 0;
    for (const sigma of this.sigmas) {
      const inv = 1 / (2 * sigma * sigma);
      // Terms beyond exp(-40) add nothing in double precision relative to the leading 1.
      const cutoff = min + 40 / inv;
      let sum = 0;
      for (let i = 0; i < this.count; i++) {
        const d = d2[i];
        if (d < 0 || d > cutoff) continue;
        sum += Math.exp(-(d - min) * inv);
      }
      const lse = -min * inv + Math.log(sum);
      total += sigma * sigma * -(lse - logN);
    }
    return total;
  }

  /**
   * The empirical denoiser's estimate E[x0 | x] at noise level sigma, in raw units, into
   * `out` (the softmax-weighted mean of the stored windows).
   */
  denoise(window: Float32Array, sigma: number, out: Float32Array): Float32Array {
    const D = this.features;
    if (out.length !== D) throw new InputError(`output has ${out.length} values, the memory holds ${D}`);
    if (this.count === 0) throw new InputError('the window memory is empty');
    this.score(window);
    const d2 = this.d2;
    let min = Infinity;
    for (let i = 0; i < this.count; i++) if (d2[i] < min) min = d2[i];
    const inv = 1 / (2 * sigma * sigma);
    out.fill(0);
    let sum = 0;
    for (let i = 0; i < this.count; i++) {
      const w = Math.exp(-(d2[i] - min) * inv);
      if (w < 1e-300) continue;
      sum += w;
      const off = i * D;
      for (let f = 0; f < D; f++) out[f] += w * this.store[off + f];
    }
    for (let f = 0; f < D; f++) out[f] = (out[f] / sum) / this.invStd[f] + this.mean[f];
    return out;
  }
}

export interface StreamMemoryOptions {
  /** Window length in rows: a window is a candidate for the memory once it no longer overlaps the newest one. */
  windowLength: number;
  /** Every this many candidates one is inserted (fifo memories). */
  insertEvery: number;
  /** Candidates whose fused surprise reached this are kept out (flagged windows are not normal). */
  insertBelowSurprise: number;
}

/**
 * A stream's memory state: the window memory, its calibration, and the insertion policy
 * (one implementation for `evaluate` and, as stream state, for `serve`). Per window:
 * `score` it, fuse with the stream's other parts, then `observe` it with the fused
 * surprise; a window observed at least `windowLength` rows before the newest one is
 * inserted (fifo memories) when it was not flagged and is the `insertEvery`-th candidate.
 * Pending candidates are bounded by the window length (times hop), not the stream length.
 */
export class StreamMemory {
  private readonly pending: { data: Float32Array; end: number; surprise: number; seq: number }[] = [];
  private head = 0;
  private seq = 0;

  constructor(
    readonly memory: WindowMemory,
    private readonly calibrationSurprise: (score: number) => number,
    private readonly opts: StreamMemoryOptions,
  ) {}

  /** The memory's diffusion score of a window and its calibrated surprise. */
  score(window: Float32Array): { score: number; surprise: number } {
    const score = this.memory.score(window);
    return { score, surprise: this.calibrationSurprise(score) };
  }

  /** Records a scored window (its data is kept until it is inserted or dropped). */
  observe(window: Float32Array, end: number, fusedSurprise: number): void {
    if (this.memory.replacement !== 'fifo') return;
    this.pending.push({ data: window, end, surprise: fusedSurprise, seq: this.seq++ });
    while (this.head < this.pending.length && this.pending[this.head].end <= end - this.opts.windowLength) {
      const p = this.pending[this.head++];
      if (p.seq % this.opts.insertEvery === 0 && p.surprise < this.opts.insertBelowSurprise) this.memory.insert(p.data, p.end);
    }
    if (this.head > 1024) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** At most this many normal windows calibrate a memory's score. */
export const MEMORY_CALIBRATION_WINDOWS = 1000;

/**
 * A memory's calibration: each of (at most 1000, evenly spaced) normal windows scored
 * against the memory without the stored windows that overlap it (end rows within
 * windowLength - 1), so a window never meets itself or its shifted copies. No labels.
 */
export function calibrateMemory(
  memory: WindowMemory,
  windows: readonly { data: Float32Array; end: number }[],
  windowLength: number,
  targetFalseAlarmRate: number,
  tailQuantile: number,
  tailFit: TailFitMethod = 'ml',
): Calibration {
  const n = Math.min(windows.length, MEMORY_CALIBRATION_WINDOWS);
  const scores: number[] = [];
  for (let j = 0; j < n; j++) {
    const w = windows[Math.floor((j * windows.length) / n)];
    const s = memory.score(w.data, { from: w.end - windowLength + 1, to: w.end + windowLength - 1 });
    if (Number.isFinite(s)) scores.push(s);
  }
  // A memory too short for any non-overlapping neighbour: calibrate on in-memory scores.
  if (scores.length === 0) for (const w of windows.slice(0, n)) scores.push(memory.score(w.data));
  return calibrate(scores, targetFalseAlarmRate, tailQuantile, tailFit);
}

export interface StreamMemoriesOptions {
  memory: WindowMemoryOptions;
  policy: StreamMemoryOptions;
  /** Windows of a stream collected (its own recent past, taken as normal) before its memory is built. */
  warmupWindows: number;
  /** Most streams with a memory; the least recently scored one is dropped beyond it. */
  maxStreams: number;
  /** Most bytes held by all memories together (default: unbounded); least recently scored streams are dropped beyond it. */
  maxBytes?: number;
  targetFalseAlarmRate: number;
  tailQuantile: number;
  tailFit?: TailFitMethod;
}

interface StreamEntry {
  warm: { data: Float32Array; end: number }[];
  state: StreamMemory | null;
  /** Bytes this entry holds (counted in the total). */
  bytes: number;
}

/** Bookkeeping bytes per warm-up window beside its data (object, end, array slot). */
const WARM_OVERHEAD_BYTES = 16;

/**
 * Memories of many streams, bounded in number and in bytes (least recently scored dropped)
 * and each in size: `serve`'s stream state. A stream's memory is built from its first
 * `warmupWindows` windows (like NAB's probationary period: the stream's own past is its
 * normal data) and calibrated on them; until then its surprise is NaN (the part is absent
 * from the fusion). A dropped stream warms up again when it returns.
 */
export class StreamMemories {
  private readonly streams = new Map<string, StreamEntry>();
  private dropped = 0;
  private total = 0;
  private ready = 0;

  constructor(private readonly opts: StreamMemoriesOptions) {
    if (!(opts.warmupWindows >= 2)) throw new InputError('a stream memory needs at least 2 warm-up windows');
  }

  private entry(stream: string): StreamEntry {
    let e = this.streams.get(stream);
    if (e) {
      // Map order is insertion order: re-inserting marks the stream as most recently used.
      this.streams.delete(stream);
    } else {
      e = { warm: [], state: null, bytes: 0 };
      if (this.streams.size >= this.opts.maxStreams) this.dropOldest();
    }
    this.streams.set(stream, e);
    return e;
  }

  private dropOldest(): void {
    const oldest = this.streams.keys().next().value as string;
    this.remove(oldest);
    this.dropped++;
  }

  private remove(stream: string): void {
    const e = this.streams.get(stream);
    if (!e) return;
    this.total -= e.bytes;
    if (e.state) this.ready--;
    this.streams.delete(stream);
  }

  private resize(e: StreamEntry, bytes: number): void {
    this.total += bytes - e.bytes;
    e.bytes = bytes;
    // The entry just used is the newest: older streams go first, never the one being served.
    while (this.opts.maxBytes !== undefined && this.total > this.opts.maxBytes && this.streams.size > 1) this.dropOldest();
  }

  /** The memory surprise of a window of `stream`; NaN while the stream is warming up. */
  surprise(stream: string, data: Float32Array): number {
    const e = this.entry(stream);
    return e.state ? e.state.score(data).surprise : Number.NaN;
  }

  /** After fusion: records the window (warm-up, or the insertion policy). */
  observe(stream: string, data: Float32Array, end: number, fusedSurprise: number): void {
    const e = this.entry(stream);
    if (e.state) {
      e.state.observe(data, end, fusedSurprise);
      return;
    }
    const copy = Float32Array.from(data);
    e.warm.push({ data: copy, end });
    if (e.warm.length < this.opts.warmupWindows) {
      this.resize(e, e.bytes + copy.byteLength + WARM_OVERHEAD_BYTES);
      return;
    }
    const memory = WindowMemory.fit(
      e.warm.map((w) => w.data),
      e.warm.map((w) => w.end),
      this.opts.memory,
    );
    const cal = calibrateMemory(memory, e.warm, this.opts.policy.windowLength, this.opts.targetFalseAlarmRate, this.opts.tailQuantile, this.opts.tailFit);
    e.state = new StreamMemory(memory, (s) => calibratedSurprise(cal, s), this.opts.policy);
    e.warm = [];
    this.ready++;
    this.resize(e, memory.bytes);
  }

  /** Drops streams' memories (their partitions moved to another replica, or they expired idle). */
  forget(streams: Iterable<string>): void {
    for (const s of streams) this.remove(s);
  }

  /** Streams with a memory or warming up. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Streams whose memory is built (the rest are warming up). */
  get readyCount(): number {
    return this.ready;
  }

  /** Streams dropped to stay within maxStreams or maxBytes. */
  get droppedStreams(): number {
    return this.dropped;
  }

  /** Bytes held by all memories (warm-up buffers included): the figure for an RSS metric. */
  get bytes(): number {
    return this.total;
  }
}
