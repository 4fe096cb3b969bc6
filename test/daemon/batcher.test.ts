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
