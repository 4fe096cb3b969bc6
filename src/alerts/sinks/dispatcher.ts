/**
 * Fans alert events out to sinks without ever blocking scoring: `enqueue` is synchronous
 * and O(1) per event; each sink has its own bounded ring-buffer queue and its own worker,
 * so a slow or failing sink only delays itself. When a sink's queue is full the OLDEST
 * queued event is dropped (the newest state of an alert matters most) and counted in
 * noisefloor_alert_sink_dropped_total.
 */
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import type { AlertEvent } from '../types.js';
import type { AlertSink, SinkMetrics } from './types.js';

export interface DispatcherOptions {
  /** Capacity of each sink's queue (events). Default 1000. */
  queueSize?: number;
  /** Most events handed to a sink in one send. Default 100. */
  maxBatch?: number;
  metrics?: SinkMetrics;
  logger?: Logger;
}

class Ring<T> {
  private buf: (T | undefined)[];
  private head = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.buf = new Array<T | undefined>(capacity);
  }
  /** Push; returns true when the oldest item had to be dropped. */
  push(v: T): boolean {
    let dropped = false;
    if (this.size === this.capacity) {
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      dropped = true;
    }
    this.buf[(this.head + this.size) % this.capacity] = v;
    this.size++;
    return dropped;
  }
  take(max: number): T[] {
    const n = Math.min(max, this.size);
    const out: T[] = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.buf[this.head] as T;
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.size -= n;
    return out;
  }
}

interface Lane {
  sink: AlertSink;
  queue: Ring<AlertEvent>;
  wake: (() => void) | null;
  inFlight: number;
  worker: Promise<void> | null;
  delivered: number;
  failed: number;
  dropped: number;
}

export interface SinkStats {
  sink: string;
  queued: number;
  inFlight: number;
  delivered: number;
  failed: number;
  dropped: number;
}

export class AlertDispatcher {
  private readonly lanes: Lane[];
  private readonly maxBatch: number;
  private readonly metrics?: SinkMetrics;
  private readonly log: Logger;
  private running = false;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(sinks: AlertSink[], opts: DispatcherOptions = {}) {
    const cap = opts.queueSize ?? 1000;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError('dispatcher: queueSize must be an integer >= 1');
    const names = new Set<string>();
    for (const s of sinks) {
      if (names.has(s.name)) throw new Error(`dispatcher: two sinks named "${s.name}"`);
      names.add(s.name);
    }
    this.maxBatch = opts.maxBatch ?? 100;
    this.metrics = opts.metrics;
    this.log = opts.logger ?? silentLogger;
    this.lanes = sinks.map((sink) => ({ sink, queue: new Ring<AlertEvent>(cap), wake: null, inFlight: 0, worker: null, delivered: 0, failed: 0, dropped: 0 }));
    for (const l of this.lanes) this.metrics?.registerSink(l.sink.name);
  }

  /** Queue events for every sink. Synchronous; never waits for a sink. */
  enqueue(events: readonly AlertEvent[]): void {
    if (events.length === 0) return;
    for (const lane of this.lanes) {
      let dropped = 0;
      for (const e of events) if (lane.queue.push(e)) dropped++;
      if (dropped) {
        lane.dropped += dropped;
        this.metrics?.sinkDroppedEvents(lane.sink.name, dropped);
        // Log the first drop and then once per 1000, not once per enqueue.
        const before = lane.dropped - dropped;
        if (before === 0 || Math.floor(lane.dropped / 1000) > Math.floor(before / 1000)) {
          this.log.warn('alert sink queue full, dropping oldest events', { sink: lane.sink.name, droppedTotal: lane.dropped });
        }
      }
      this.metrics?.setSinkQueueDepth(lane.sink.name, lane.queue.size);
      const wake = lane.wake;
      lane.wake = null;
      wake?.();
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const lane of this.lanes) {
      lane.sink.start?.();
      lane.worker = this.work(lane);
    }
  }

  /**
   * Stop: wait up to `drainMs` for the queues to drain, then abort in-flight sends and stop
   * the sinks. Events still queued are lost (logged).
   */
  async stop(drainMs = 5000): Promise<void> {
    if (!this.running) return;
    if (drainMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, drainMs)))]);
      clearTimeout(timer);
    }
    this.running = false;
    this.abort.abort(new Error('alert dispatcher stopped'));
    for (const lane of this.lanes) {
      const wake = lane.wake;
      lane.wake = null;
      wake?.();
    }
    await Promise.all(this.lanes.map((l) => l.worker));
    await Promise.all(this.lanes.map((l) => l.sink.stop?.()));
    for (const lane of this.lanes) {
      if (lane.queue.size) this.log.warn('alert events not delivered at shutdown', { sink: lane.sink.name, events: lane.queue.size });
    }
  }

  /** Resolves when every queue is empty and nothing is in flight. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): SinkStats[] {
    return this.lanes.map((l) => ({
      sink: l.sink.name,
      queued: l.queue.size,
      inFlight: l.inFlight,
      delivered: l.delivered,
      failed: l.failed,
      dropped: l.dropped,
    }));
  }

  private isIdle(): boolean {
    return this.lanes.every((l) => l.queue.size === 0 && l.inFlight === 0);
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  private async work(lane: Lane): Promise<void> {
    const name = lane.sink.name;
    while (this.running) {
      if (lane.queue.size === 0) {
        this.notifyIdle();
        await new Promise<void>((r) => (lane.wake = r));
        continue;
      }
      const batch = lane.queue.take(this.maxBatch);
      lane.inFlight = batch.length;
      this.metrics?.setSinkQueueDepth(name, lane.queue.size);
      try {
        await lane.sink.send(batch, this.abort.signal);
        lane.delivered += batch.length;
        this.metrics?.sinkDelivered(name, batch.length);
      } catch (err) {
        lane.failed += batch.length;
        this.metrics?.sinkFailed(name, batch.length);
        if (!this.abort.signal.aborted) this.log.error('alert sink failed', { sink: name, events: batch.length, err });
      } finally {
        lane.inFlight = 0;
      }
    }
    this.notifyIdle();
  }
}
