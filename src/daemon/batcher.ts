/**
 * Bounded window queue and micro-batcher. Producers (sources) `push` windows; the scoring
 * loop takes batches with `next()` and reports each one served with `served()`. Without a
 * latency target a batch is up to `maxBatch` windows, handed out as soon as `maxBatch` are
 * waiting or `maxWaitMs` after the oldest waiting one arrived (so a quiet stream is not
 * held back by a busy one). With `latencyTargetMs` the BatchController sizes each batch
 * from the measured cost of the last ones and the oldest window's age (batch-controller.ts).
 * `full` tells a source to pause (Kafka: consumer.pause) and `waitForSpace` when to go on;
 * the queue itself never refuses a window, so a message already read is never lost, and
 * memory stays bounded by capacity plus what one fetch can hold.
 */
import { BatchController, type BatchReason } from './batch-controller.js';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  capacity: number;
  /** Queue entry to outputs per window; 0 or absent: fixed maxBatch / maxWaitMs. */
  latencyTargetMs?: number;
}

/** The batch handed out last: its size, why, and how long its oldest window had queued. */
export interface TakenBatch {
  windows: number;
  reason: BatchReason;
  queueAgeMs: number;
  takenAt: number;
}

export class MicroBatcher<T> {
  private items: T[] = [];
  private times: number[] = [];
  private head = 0;
  private oldestAt = 0;
  private closed = false;
  private takeWaiter: (() => void) | null = null;
  /** When the waiting next() wakes up by itself (Infinity: only on a push). */
  private armedAt = Infinity;
  private spaceWaiters: { below: number; resolve: () => void }[] = [];
  readonly controller: BatchController;
  /** The last batch handed out by next(); null before the first. */
  lastTaken: TakenBatch | null = null;

  constructor(
    readonly opts: BatcherOptions,
    // Monotonic and sub-millisecond: batches of a small model are served in well under 1 ms.
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(opts.maxBatch >= 1 && opts.capacity >= 1)) throw new RangeError('batcher: maxBatch and capacity must be >= 1');
    this.controller = new BatchController({ maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs, latencyTargetMs: opts.latencyTargetMs ?? 0 });
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.size >= this.opts.capacity;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(item: T): void {
    if (this.closed) throw new Error('batcher is closed');
    const t = this.now();
    if (this.size === 0) this.oldestAt = t;
    this.items.push(item);
    this.times.push(t);
    if (!this.takeWaiter) return;
    // Wake the waiting next() only when this window changes its plan: a batch is due now,
    // or (a bigger queue costs more to serve) it must start earlier than it planned to.
    const d = this.controller.decide(t, this.size, this.oldestAt, false);
    if (d.reason !== undefined || d.wakeAt < this.armedAt) this.wake();
  }

  /** Age in ms of the oldest queued window (0 when empty). */
  oldestAgeMs(): number {
    return this.size > 0 ? Math.max(0, this.now() - this.oldestAt) : 0;
  }

  /**
   * The batch handed out last has been served (scored and given to the outputs): its
   * duration feeds the cost model. Returns the duration in ms.
   */
  served(windows: number): number {
    const ms = this.lastTaken ? Math.max(0, this.now() - this.lastTaken.takenAt) : 0;
    this.controller.observe(windows, ms);
    return ms;
  }

  /** No more windows will come: `next()` hands out what is left, then returns []. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  /** Resolves once at most `below` windows are queued (default: half the capacity). */
  waitForSpace(below = Math.floor(this.opts.capacity / 2)): Promise<void> {
    if (this.size <= below || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push({ below, resolve }));
  }

  /** The next batch; [] only once closed and empty. */
  async next(): Promise<T[]> {
    while (true) {
      const now = this.now();
      const d = this.controller.decide(now, this.size, this.oldestAt, this.closed);
      if (d.reason !== undefined) {
        this.lastTaken = { windows: d.take, reason: d.reason, queueAgeMs: Math.max(0, now - this.oldestAt), takenAt: now };
        return this.take(d.take);
      }
      if (this.size === 0 && this.closed) return [];
      const wakeAt = d.wakeAt;
      await new Promise<void>((resolve) => {
        this.armedAt = wakeAt;
        this.takeWaiter = resolve;
        if (Number.isFinite(wakeAt)) {
          const t = setTimeout(() => this.wake(), Math.max(0, wakeAt - now));
          this.takeWaiter = () => {
            clearTimeout(t);
            resolve();
          };
        }
      });
    }
  }

  private take(count: number): T[] {
    const n = Math.min(this.size, count);
    const out = this.items.slice(this.head, this.head + n);
    this.head += n;
    if (this.head >= this.items.length) {
      this.items = [];
      this.times = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    if (this.size > 0) this.oldestAt = this.times[this.head];
    const size = this.size;
    const ready = this.spaceWaiters.filter((w) => size <= w.below);
    if (ready.length) {
      this.spaceWaiters = this.spaceWaiters.filter((w) => size > w.below);
      for (const w of ready) w.resolve();
    }
    return out;
  }

  private wake(): void {
    const w = this.takeWaiter;
    this.takeWaiter = null;
    this.armedAt = Infinity;
    w?.();
    if (this.closed) {
      for (const s of this.spaceWaiters) s.resolve();
      this.spaceWaiters = [];
    }
  }
}
