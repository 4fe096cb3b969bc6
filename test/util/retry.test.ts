import { describe, expect, it } from 'vitest';
import { exponentialDelay, jitteredDelay, kafkaRetriable, withRetry } from '../../src/util/retry.js';

class Flaky {
  calls = 0;
  constructor(
    private readonly failures: number,
    private readonly error: () => Error = () => new Error('transient'),
  ) {}
  run = async (attempt: number): Promise<number> => {
    expect(attempt).toBe(this.calls);
    this.calls++;
    if (this.calls <= this.failures) throw this.error();
    return this.calls;
  };
}

describe('withRetry', () => {
  it('retries until the attempt succeeds, reporting each failure with its attempt number', async () => {
    const f = new Flaky(3);
    const seen: number[] = [];
    const waits: number[] = [];
    const n = await withRetry(f.run, {
      retries: 5,
      delayMs: (attempt) => {
        waits.push(attempt);
        return 1;
      },
      onFailure: (_e, attempt) => void seen.push(attempt),
    });
    expect(n).toBe(4);
    expect(seen).toEqual([0, 1, 2]);
    expect(waits).toEqual([0, 1, 2]);
  });

  it('bounded: throws the last error once the retries are used up', async () => {
    const f = new Flaky(10, () => new Error(`failure`));
    await expect(withRetry(f.run, { retries: 2, delayMs: () => 1 })).rejects.toThrow('failure');
    expect(f.calls).toBe(3);
  });

  it('a non-retriable error is thrown at once, without onFailure or a wait', async () => {
    const fatal = Object.assign(new Error('bad request'), { retriable: false });
    const f = new Flaky(10, () => fatal);
    let failures = 0;
    await expect(withRetry(f.run, { retries: Infinity, delayMs: () => 1, retriable: kafkaRetriable, onFailure: () => void failures++ })).rejects.toBe(fatal);
    expect(f.calls).toBe(1);
    expect(failures).toBe(0);
  });

  it('onFailure returning false gives up with the error (unbounded loops stop this way)', async () => {
    const f = new Flaky(Infinity);
    await expect(withRetry(f.run, { retries: Infinity, delayMs: () => 1, onFailure: (_e, attempt) => attempt < 4 })).rejects.toThrow('transient');
    expect(f.calls).toBe(5);
  });

  it('an abort during the wait ends the loop with the signal reason', async () => {
    const ac = new AbortController();
    const reason = new Error('stopping');
    const f = new Flaky(Infinity);
    const p = withRetry(f.run, { retries: Infinity, delayMs: () => 60_000, signal: ac.signal, onFailure: () => void ac.abort(reason) });
    await expect(p).rejects.toBe(reason);
    expect(f.calls).toBe(1);
  });

  it('an aborted signal stops before any retry: the attempt error is thrown', async () => {
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    const f = new Flaky(Infinity);
    await expect(withRetry(f.run, { retries: 3, delayMs: () => 1, signal: ac.signal })).rejects.toThrow('transient');
    expect(f.calls).toBe(1);
  });
});

describe('backoff delays', () => {
  it('exponential, capped at the maximum', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => exponentialDelay(a, 100, 1000))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('full jitter: uniform below the exponential delay', () => {
    expect(jitteredDelay(3, 100, 1000, () => 0.5)).toBe(400);
    expect(jitteredDelay(3, 100, 1000, () => 0)).toBe(0);
    expect(jitteredDelay(10, 100, 1000, () => 0.999)).toBeLessThan(1000);
  });

  it('kafkajs convention: only errors marked retriable are retried', () => {
    expect(kafkaRetriable(Object.assign(new Error('x'), { retriable: true }))).toBe(true);
    expect(kafkaRetriable(new Error('x'))).toBe(false);
    expect(kafkaRetriable(null)).toBe(false);
  });
});
