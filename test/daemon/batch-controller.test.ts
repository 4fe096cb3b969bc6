/**
 * Batch sizing against a latency target: the cost model, the decisions, and a simulated
 * scorer on a simulated clock (no timers, no wall time: every figure is deterministic).
 */
import { describe, expect, it } from 'vitest';
import { batchingSchema } from '../../src/config/daemon.js';
import { BatchController, BatchCostModel, type BatchControllerOptions, type BatchReason } from '../../src/daemon/batch-controller.js';

/** Serving cost of n windows in the simulation: 2 ms per batch + 0.5 ms per window. */
const cost = (n: number) => 2 + 0.5 * n;

interface SimResult {
  latencies: number[];
  batches: { n: number; reason: BatchReason; at: number }[];
  finishedAt: number;
  maxQueued: number;
}

/**
 * A scorer that serves one batch at a time with `cost`, fed windows at the given arrival
 * times, asking the controller whenever it is idle and whenever a window arrives while it
 * waits (as MicroBatcher does).
 */
function simulate(opts: BatchControllerOptions, arrivals: number[]): SimResult {
  const c = new BatchController(opts);
  const queue: number[] = [];
  const latencies: number[] = [];
  const batches: SimResult['batches'] = [];
  let next = 0;
  let now = 0;
  let maxQueued = 0;
  const admit = () => {
    while (next < arrivals.length && arrivals[next] <= now) queue.push(arrivals[next++]);
    maxQueued = Math.max(maxQueued, queue.length);
  };
  while (next < arrivals.length || queue.length > 0) {
    admit();
    const d = c.decide(now, queue.length, queue[0] ?? now, false);
    if (d.reason !== undefined) {
      const batch = queue.splice(0, d.take);
      batches.push({ n: batch.length, reason: d.reason, at: now });
      now += cost(batch.length);
      for (const t of batch) latencies.push(now - t);
      c.observe(batch.length, cost(batch.length));
      continue;
    }
    const arrival = next < arrivals.length ? arrivals[next] : Infinity;
    const wake = Math.min(d.wakeAt, arrival);
    expect(Number.isFinite(wake)).toBe(true);
    now = Math.max(now, wake);
  }
  return { latencies, batches, finishedAt: now, maxQueued };
}

/** Evenly spaced arrivals: `perMs` windows per ms for `ms` ms. */
function steady(perMs: number, ms: number, from = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < perMs * ms; i++) out.push(from + i / perMs);
  return out;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

describe('BatchCostModel', () => {
  it('recovers per-batch and per-window cost from batches of varied size', () => {
    const m = new BatchCostModel();
    for (const n of [4, 60, 17, 33, 8, 64, 25]) m.observe(n, cost(n));
    expect(m.perBatchMs).toBeCloseTo(2, 6);
    expect(m.perWindowMs).toBeCloseTo(0.5, 6);
    expect(m.predict(100)).toBeCloseTo(52, 6);
    expect(m.largestWithin(22, 1000)).toBe(40);
    expect(m.largestWithin(1, 1000)).toBe(0);
  });

  it('forgets old batches: a machine that became slower is seen within a few batches', () => {
    const m = new BatchCostModel();
    for (const n of [4, 60, 17, 33]) m.observe(n, cost(n));
    for (let i = 0; i < 40; i++) m.observe([10, 50][i % 2], 3 * cost([10, 50][i % 2]));
    expect(m.perWindowMs).toBeCloseTo(1.5, 1);
  });

  it('with one size seen, predicts smaller batches as dear and larger ones proportionally dearer', () => {
    const m = new BatchCostModel();
    for (let i = 0; i < 5; i++) m.observe(64, 34);
    expect(m.predict(8)).toBeCloseTo(34, 6);
    expect(m.predict(128)).toBeCloseTo(68, 6);
    expect(m.largestWithin(33, 64)).toBe(0);
    expect(m.largestWithin(40, 1000)).toBe(75);
  });

  it('ignores invalid observations', () => {
    const m = new BatchCostModel();
    m.observe(0, 5);
    m.observe(3, Number.NaN);
    m.observe(3, -1);
    expect(m.observations).toBe(0);
  });
});

describe('BatchController decisions', () => {
  it('without a target: maxBatch windows at once, or what waited maxWaitMs', () => {
    const c = new BatchController({ maxBatch: 8, maxWaitMs: 20, latencyTargetMs: 0 });
    for (const n of [1, 8, 4]) c.observe(n, cost(n));
    expect(c.adaptive).toBe(false);
    expect(c.decide(100, 0, 0, false)).toEqual({ take: 0, wakeAt: Infinity });
    expect(c.decide(100, 10, 95, false)).toEqual({ take: 8, reason: 'full' });
    expect(c.decide(100, 3, 95, false)).toEqual({ take: 0, wakeAt: 115 });
    expect(c.decide(115, 3, 95, false)).toEqual({ take: 3, reason: 'wait' });
    expect(c.decide(100, 3, 95, true)).toEqual({ take: 3, reason: 'drain' });
  });

  it('with a target, takes a queue early when waiting to maxWaitMs would miss it', () => {
    const c = new BatchController({ maxBatch: 256, maxWaitMs: 50, latencyTargetMs: 40 });
    for (const n of [4, 60, 17]) c.observe(n, cost(n));
    expect(c.adaptive).toBe(true);
    // 40 queued cost 22 ms (x1.25 = 27.5): must start by 40 - 27.5 = 12.5 ms after the oldest.
    expect(c.decide(5, 40, 0, false)).toEqual({ take: 0, wakeAt: 12.5 });
    expect(c.decide(12.5, 40, 0, false)).toEqual({ take: 40, reason: 'deadline' });
    // A small queue waits up to maxWaitMs... unless the target comes first.
    expect(c.decide(5, 2, 0, false).wakeAt).toBeCloseTo(40 - 1.25 * cost(2), 9);
  });

  it('takes the part of a burst that still makes the target, and maxBatch once the oldest is late', () => {
    const c = new BatchController({ maxBatch: 256, maxWaitMs: 50, latencyTargetMs: 40 });
    for (const n of [4, 60, 17]) c.observe(n, cost(n));
    // 200 queued at age 0: 102 ms to serve; within 40 ms (/1.25 = 32 ms): (32 - 2) / 0.5 = 60.
    expect(c.decide(0, 200, 0, false)).toEqual({ take: 60, reason: 'deadline' });
    // The oldest already waited 45 ms: late whatever happens, so the cheapest size per window.
    expect(c.decide(45, 300, 0, false)).toEqual({ take: 256, reason: 'backlog' });
    expect(c.decide(45, 30, 0, false)).toEqual({ take: 30, reason: 'backlog' });
  });
});

describe('BatchController on a simulated scorer', () => {
  it('meets the target where the fixed rule (maxWaitMs 50) misses it', () => {
    const load = steady(1, 3000); // 1 window/ms; the scorer could serve up to ~2/ms
    const fixed = simulate({ maxBatch: 256, maxWaitMs: 50, latencyTargetMs: 0 }, load);
    const adaptive = simulate({ maxBatch: 256, maxWaitMs: 50, latencyTargetMs: 50 }, load);
    const warm = (r: SimResult) => r.latencies.slice(200);
    expect(quantile(warm(fixed), 0.99)).toBeGreaterThan(70);
    expect(Math.max(...warm(adaptive))).toBeLessThanOrEqual(50);
    // ...with batches as big as the target allows, not tiny ones.
    const sizes = adaptive.batches.slice(10, -2).map((b) => b.n);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(10);
  });

  it('keeps up where only batches above a minimum size keep up, and meets the target', () => {
    // 1.5 windows/ms needs n >= 12 per batch (2 + 0.5 n <= n / 1.5).
    const r = simulate({ maxBatch: 64, maxWaitMs: 50, latencyTargetMs: 30 }, steady(1.5, 4000));
    expect(r.maxQueued).toBeLessThan(100);
    expect(quantile(r.latencies.slice(300), 0.99)).toBeLessThanOrEqual(30);
    expect(r.finishedAt).toBeLessThan(4000 + 30);
  });

  it('when the scorer cannot keep up: maxBatch batches, the most windows per second', () => {
    // 2.5 windows/ms against at most 64 / 34 = 1.88 windows/ms.
    const arrivals = steady(2.5, 2000);
    const r = simulate({ maxBatch: 64, maxWaitMs: 50, latencyTargetMs: 30 }, arrivals);
    const late = r.batches.filter((b) => b.at > 200 && b.at < 1800);
    expect(late.length).toBeGreaterThan(20);
    expect(late.every((b) => b.n === 64)).toBe(true);
    expect(late.filter((b) => b.reason === 'backlog').length).toBeGreaterThan(late.length / 2);
    // Throughput of the whole run equals maxBatch's: everything is served at 64 / 34 per ms.
    expect(arrivals.length / r.finishedAt).toBeGreaterThan(0.98 * (64 / 34));
  });

  it('a burst larger than the target allows: the first windows still make it', () => {
    const warmup = steady(0.5, 200);
    const burst = Array.from({ length: 300 }, () => 300);
    const r = simulate({ maxBatch: 256, maxWaitMs: 20, latencyTargetMs: 40 }, [...warmup, ...burst]);
    const first = r.batches.find((b) => b.at >= 300)!;
    expect(first.reason).toBe('deadline');
    expect(first.n).toBeLessThan(300);
    const burstLat = r.latencies.slice(warmup.length);
    expect(burstLat.slice(0, first.n).every((l) => l <= 40)).toBe(true);
  });
});

describe('batching.latencyTargetMs', () => {
  it('defaults to 0 (off: the fixed rule) and takes whole milliseconds >= 0 only', () => {
    expect(batchingSchema.parse({}).latencyTargetMs).toBe(0);
    expect(batchingSchema.parse({ latencyTargetMs: 100 }).latencyTargetMs).toBe(100);
    expect(batchingSchema.safeParse({ latencyTargetMs: -1 }).success).toBe(false);
    expect(batchingSchema.safeParse({ latencyTargetMs: 2.5 }).success).toBe(false);
  });
});
