/**
 * Event-time order for one stream: a bounded reorder buffer shared by the daemon (Kafka,
 * file replay, generator) and offline `score`, so that all of them window the same steps.
 *
 * Steps carry an order key (timestamp, sub) where `sub` orders the steps of one record that
 * share its timestamp (the frames of a PCM message; 0 for one-step records). A step is held
 * until the stream's watermark (largest timestamp seen minus `allowedLatenessMs`) reaches
 * it, or until more than `maxBuffered` steps are held (then the oldest goes), and released
 * in key order. A step whose key is not above the last released key can no longer be put in
 * its place: it is dropped as `duplicate` when its key equals the last released one or one
 * held, else as `late`. With `allowedLatenessMs` 0 nothing is held: steps must arrive in
 * order, and any step out of order or repeating a timestamp is dropped.
 *
 * Every decision depends only on the sequence of keys pushed (never on wall time), which
 * is what lets a restarted daemon replay a partition and release exactly the same steps.
 * Steps without a numeric timestamp have no key and bypass the buffer (arrival order).
 */

export interface OrderPolicy {
  /** Event-time milliseconds a step may arrive behind the newest one and still be put in its place. */
  allowedLatenessMs: number;
  /** Steps held at most per stream (memory bound); beyond it the oldest is released early. */
  maxBuffered: number;
}

export interface OrderKey {
  t: number;
  sub: number;
}

export type OrderDrop = 'late' | 'duplicate';

export function compareKeys(a: OrderKey, b: OrderKey): number {
  return a.t - b.t || a.sub - b.sub;
}

interface Held<T> {
  key: OrderKey;
  item: T;
}

export class EventTimeOrder<T> {
  private held: Held<T>[] = [];
  private maxSeen = Number.NEGATIVE_INFINITY;
  /** Key of the last step released (or the restored floor); null before any. */
  released: OrderKey | null;

  constructor(
    readonly policy: OrderPolicy,
    floor: OrderKey | null = null,
  ) {
    this.released = floor;
    if (floor) this.maxSeen = floor.t;
  }

  get size(): number {
    return this.held.length;
  }

  /** Items held, oldest key first. */
  items(): readonly T[] {
    return this.held.map((h) => h.item);
  }

  /**
   * Offers one step; released steps (in key order) are appended to `out`. Returns the
   * reason when the step is dropped.
   */
  push(key: OrderKey, item: T, out: T[]): OrderDrop | null {
    const last = this.released;
    if (last && compareKeys(key, last) <= 0) return compareKeys(key, last) === 0 ? 'duplicate' : 'late';
    const h = this.held;
    // Usually in order: append; else binary search for the place.
    let at = h.length;
    if (at > 0 && compareKeys(key, h[at - 1].key) <= 0) {
      let lo = 0;
      let hi = h.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareKeys(h[mid].key, key) < 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo < h.length && compareKeys(h[lo].key, key) === 0) return 'duplicate';
      at = lo;
    }
    h.splice(at, 0, { key, item });
    if (key.t > this.maxSeen) this.maxSeen = key.t;
    const watermark = this.maxSeen - this.policy.allowedLatenessMs;
    let n = 0;
    while (n < h.length && (h[n].key.t <= watermark || h.length - n > this.policy.maxBuffered)) n++;
    if (n > 0) this.release(n, out);
    return null;
  }

  /** Releases everything held (end of a file, a stream that went quiet). */
  flush(out: T[]): void {
    if (this.held.length) this.release(this.held.length, out);
  }

  private release(n: number, out: T[]): void {
    for (let i = 0; i < n; i++) out.push(this.held[i].item);
    this.released = this.held[n - 1].key;
    this.held = n === this.held.length ? [] : this.held.slice(n);
  }
}

/** Counts of steps dropped by the order policy. */
export interface OrderDrops {
  late: number;
  duplicate: number;
}
