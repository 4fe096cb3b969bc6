/**
 * Bounded window queue and micro-batcher. Producers (sources) `push` windows; the scoring
 * loop takes batches with `next()`: up to `maxBatch` windows, handed out as soon as
 * `maxBatch` are waiting or `maxWaitMs` after the oldest waiting one arrived (so a quiet
 * stream is not held back by a busy one). `full` tells a source to pause (Kafka:
 * consumer.pause) and `waitForSpace` when to go on; the queue itself never refuses a
 * window, so a message already read is never lost, and memory stays bounded by capacity
 * plus what one fetch can hold.
 */
export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  capacity: number;
}

export class MicroBatcher<T> {
  private items: T[] = [];
  private times: number[] = [];
  private head = 0;
  private oldestAt = 0;
  private closed = false;
  private takeWaiter: (() => void) | null = null;
  private spaceWaiters: { below: number; resolve: () => void }[] = [];

  constructor(
    readonly opts: BatcherOptions,
    private readonly now: () => number = Date.now,
  ) {
    if (!(opts.maxBatch >= 1 && opts.capacity >= 1)) throw new RangeError('batcher: maxBatch and capacity must be >= 1');
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
    if (this.size >= this.opts.maxBatch || this.opts.maxWaitMs === 0) this.wake();
    else if (this.size === 1) this.wake(); // lets next() arm its timer for the oldest item
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
      const n = this.size;
      if (n >= this.opts.maxBatch || (n > 0 && (this.closed || this.now() - this.oldestAt >= this.opts.maxWaitMs))) return this.take();
      if (n === 0 && this.closed) return [];
      await new Promise<void>((resolve) => {
        this.takeWaiter = resolve;
        if (n > 0) {
          const t = setTimeout(() => this.wake(), Math.max(0, this.opts.maxWaitMs - (this.now() - this.oldestAt)));
          const r = this.takeWaiter;
          this.takeWaiter = () => {
            clearTimeout(t);
            r();
          };
        }
      });
    }
  }

  private take(): T[] {
    const n = Math.min(this.size, this.opts.maxBatch);
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
    w?.();
    if (this.closed) {
      for (const s of this.spaceWaiters) s.resolve();
      this.spaceWaiters = [];
    }
  }
}
