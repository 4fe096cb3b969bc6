/** Micro-batcher: batch size, wait bound, close/drain and backpressure signalling. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MicroBatcher } from '../../src/daemon/batcher.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('MicroBatcher', () => {
  it('hands out full batches of maxBatch at once, in order', async () => {
    const b = new MicroBatcher<number>({ maxBatch: 3, maxWaitMs: 60_000, capacity: 100 });
    for (let i = 0; i < 7; i++) b.push(i);
    expect(await b.next()).toEqual([0, 1, 2]);
    expect(await b.next()).toEqual([3, 4, 5]);
    expect(b.size).toBe(1);
  });

  it('hands out a partial batch once its oldest window waited maxWaitMs', async () => {
    vi.useFakeTimers();
    let now = 0;
    const b = new MicroBatcher<number>({ maxBatch: 10, maxWaitMs: 50, capacity: 100 }, () => now);
    b.push(1);
    let got: number[] | null = null;
    void b.next().then((x) => (got = x));
    await vi.advanceTimersByTimeAsync(10);
    now = 10;
    b.push(2);
    expect(got).toBeNull();
    now = 50;
    await vi.advanceTimersByTimeAsync(40);
    expect(got).toEqual([1, 2]);
  });

  it('after close, drains what is queued and then returns []', async () => {
    const b = new MicroBatcher<number>({ maxBatch: 2, maxWaitMs: 60_000, capacity: 100 });
    b.push(1);
    b.push(2);
    b.push(3);
    const pending = b.next();
    b.close();
    expect(await pending).toEqual([1, 2]);
    expect(await b.next()).toEqual([3]);
    expect(await b.next()).toEqual([]);
    expect(() => b.push(4)).toThrow(/closed/);
  });

  it('reports full at capacity and wakes space waiters once drained below the mark', async () => {
    const b = new MicroBatcher<number>({ maxBatch: 4, maxWaitMs: 0, capacity: 8 });
    for (let i = 0; i < 9; i++) b.push(i);
    expect(b.full).toBe(true);
    let woke = false;
    const space = b.waitForSpace(4).then(() => (woke = true));
    await b.next();
    await Promise.resolve();
    expect(woke).toBe(false); // 5 left
    await b.next();
    await space;
    expect(woke).toBe(true);
    expect(b.full).toBe(false);
  });
});

describe('MicroBatcher with a latency target', () => {
  it('hands out a batch before maxWaitMs when the measured cost says waiting would miss the target', async () => {
    vi.useFakeTimers();
    let now = 0;
    const b = new MicroBatcher<number>({ maxBatch: 256, maxWaitMs: 1000, capacity: 1000, latencyTargetMs: 100 }, () => now);
    // Three measured batches: 2 ms per batch + 1 ms per window.
    for (const n of [10, 40, 20]) {
      for (let i = 0; i < n; i++) b.push(i);
      now += 1000;
      const got = await b.next();
      expect(got).toHaveLength(n);
      expect(b.lastTaken?.reason).toBe('wait');
      now += 2 + n;
      expect(b.served(n)).toBe(2 + n);
    }
    expect(b.controller.adaptive).toBe(true);
    const start = now;
    b.push(0);
    let got: number[] | null = null;
    void b.next().then((x) => (got = x));
    // 1 window: 3 ms (x1.25); it may wait until 100 - 3.75 ms after it arrived.
    await vi.advanceTimersByTimeAsync(10);
    now = start + 10;
    // 49 more: 50 windows cost 52 ms (x1.25 = 65): the batch must start 35 ms after the oldest.
    for (let i = 1; i < 50; i++) b.push(i);
    expect(got).toBeNull();
    now = start + 34;
    await vi.advanceTimersByTimeAsync(24);
    expect(got).toBeNull();
    now = start + 35;
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toHaveLength(50);
    expect(b.lastTaken).toMatchObject({ windows: 50, reason: 'deadline', queueAgeMs: 35 });
    expect(b.oldestAgeMs()).toBe(0);
  });

  it('with the oldest window already past the target, takes maxBatch at once', async () => {
    let now = 0;
    const b = new MicroBatcher<number>({ maxBatch: 8, maxWaitMs: 1000, capacity: 1000, latencyTargetMs: 20 }, () => now);
    for (const n of [2, 8, 4]) {
      for (let i = 0; i < n; i++) b.push(i);
      now += 1000;
      await b.next();
      now += 1 + n;
      b.served(n);
    }
    for (let i = 0; i < 30; i++) b.push(i);
    now += 25;
    expect(b.oldestAgeMs()).toBe(25);
    expect(await b.next()).toHaveLength(8);
    expect(b.lastTaken?.reason).toBe('backlog');
  });
});
