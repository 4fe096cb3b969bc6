/**
 * The one retry loop: bounded or unbounded attempts, exponential backoff capped at a
 * maximum delay, errors marked retriable or not (as kafkajs marks its own), and a hook
 * that logs each failure and may give up early (a stopping daemon, a revoked partition).
 * Used by the HTTP alert sinks, the daemon's output-sink loop, the dead-letter producer
 * and the Kafka source's start-up check and state restore.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Retries after the first attempt; Infinity retries until success or `onFailure` gives up. */
  retries: number;
  /** Milliseconds to wait before retry number `attempt` (0-based) after `err`. */
  delayMs: (attempt: number, err: unknown) => number;
  /** False: the error is final, thrown at once. Default: every error is retriable. */
  retriable?: (err: unknown) => boolean;
  /**
   * Called after a retriable failure with retries left, before the wait: logs it, cleans up.
   * Returning false gives up: the error is thrown.
   */
  onFailure?: (err: unknown, attempt: number) => boolean | void | Promise<boolean | void>;
  /** Aborting stops the loop, also during a wait: the signal's reason (or the last error) is thrown. */
  signal?: AbortSignal;
}

/** Exponential backoff: min(maxMs, baseMs · 2^attempt). */
export function exponentialDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

/** Exponential backoff with full jitter: uniform in [0, min(maxMs, baseMs · 2^attempt)). */
export function jitteredDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return random() * exponentialDelay(attempt, baseMs, maxMs);
}

/** The kafkajs convention: an error that says it is not retriable (`retriable: false`) is final. */
export function kafkaRetriable(err: unknown): boolean {
  return Boolean((err as { retriable?: boolean } | null)?.retriable);
}

/** Runs `attempt` until it resolves; throws the error that ends the loop (see RetryPolicy). */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const { signal } = policy;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (signal?.aborted || n >= policy.retries || (policy.retriable && !policy.retriable(err))) throw err;
      if ((await policy.onFailure?.(err, n)) === false) throw err;
      try {
        await sleep(policy.delayMs(n, err), undefined, signal ? { signal } : undefined);
      } catch (e) {
        // timers/promises rejects with an AbortError; callers expect the signal's own reason.
        throw signal?.aborted ? signal.reason : e;
      }
    }
  }
}
