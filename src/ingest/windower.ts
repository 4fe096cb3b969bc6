import type { SeriesRecord, Window } from './types.js';

export interface WindowSpec {
  /** Window length W in steps. */
  length: number;
  /** Hop H in steps between window starts. */
  hop: number;
  /** Channel count C. */
  channels: number;
}

/**
 * Cuts one stream into overlapping windows with a ring buffer: each record is written once
 * into the ring, and a window is copied out only when one is due (every `hop` records after
 * the first `length`). Nothing is emitted while the stream warms up.
 *
 * Missing values (NaN from an empty or NA cell) are forward-filled with the channel's last
 * valid value; before any valid value they stay NaN and the normaliser maps them to the
 * channel centre. `Window.missing` counts the filled steps, so a caller can tell a window
 * made of guesses.
 */
export class StreamWindower {
  private readonly ring: Float64Array;
  private readonly missingRing: Uint8Array;
  private readonly tsRing: (number | string | undefined)[];
  private readonly indexRing: Float64Array;
  private readonly lastValid: Float64Array;
  private pos = 0;
  private count = 0;
  private lastEmittedEnd = -1;

  constructor(
    readonly stream: string,
    readonly spec: WindowSpec,
  ) {
    if (!(spec.length >= 2 && Number.isInteger(spec.length))) throw new RangeError(`window length must be an integer >= 2, got ${spec.length}`);
    if (!(spec.hop >= 1 && Number.isInteger(spec.hop))) throw new RangeError(`hop must be an integer >= 1, got ${spec.hop}`);
    this.ring = new Float64Array(spec.length * spec.channels);
    this.missingRing = new Uint8Array(spec.length);
    this.tsRing = new Array(spec.length);
    this.indexRing = new Float64Array(spec.length);
    this.lastValid = new Float64Array(spec.channels).fill(Number.NaN);
  }

  /** Records seen so far. */
  get seen(): number {
    return this.count;
  }

  get warmedUp(): boolean {
    return this.count >= this.spec.length;
  }

  /** Adds one record; returns the window that ends at it when one is due. */
  push(rec: SeriesRecord): Window | null {
    this.write(rec.values, rec.ts, rec.index);
    const { length, hop } = this.spec;
    if (this.count >= length && (this.count - length) % hop === 0) return this.emit();
    return null;
  }

  /** Same as push for a bare value vector (decoded messages carry no row index). */
  pushValues(values: ArrayLike<number>, ts?: number | string): Window | null {
    return this.push({ index: this.count, values: values as Float64Array, ts });
  }

  /**
   * A last window ending at the newest record, when the hop grid left the tail uncovered.
   * Offline scoring calls it so every row is in some window; a live stream never does.
   */
  flush(): Window | null {
    if (this.count < this.spec.length) return null;
    const newest = this.indexRing[(this.pos - 1 + this.spec.length) % this.spec.length];
    if (newest === this.lastEmittedEnd) return null;
    return this.emit();
  }

  private write(values: ArrayLike<number>, ts: number | string | undefined, index: number): void {
    const { channels, length } = this.spec;
    let missing = 0;
    const base = this.pos * channels;
    for (let c = 0; c < channels; c++) {
      let v = values[c];
      if (v === undefined || Number.isNaN(v)) {
        v = this.lastValid[c];
        missing = 1;
      } else this.lastValid[c] = v;
      this.ring[base + c] = v;
    }
    this.missingRing[this.pos] = missing;
    this.tsRing[this.pos] = ts;
    this.indexRing[this.pos] = index;
    this.pos = (this.pos + 1) % length;
    this.count++;
  }

  private emit(): Window {
    const { channels, length } = this.spec;
    const data = new Float32Array(channels * length);
    let missing = 0;
    // pos is the oldest slot once the ring is full.
    for (let i = 0; i < length; i++) {
      const slot = (this.pos + i) % length;
      const base = slot * channels;
      for (let c = 0; c < channels; c++) data[c * length + i] = this.ring[base + c];
      missing += this.missingRing[slot];
    }
    const first = this.pos;
    const last = (this.pos - 1 + length) % length;
    const end = this.indexRing[last];
    this.lastEmittedEnd = end;
    const w: Window = { stream: this.stream, channels, length, data, start: this.indexRing[first], end, missing };
    if (this.tsRing[first] !== undefined) w.startTs = this.tsRing[first];
    if (this.tsRing[last] !== undefined) w.endTs = this.tsRing[last];
    return w;
  }
}
