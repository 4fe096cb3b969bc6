/** JSON POST with timeout, retries, exponential backoff and full jitter (shared by sinks). */
import { jitteredDelay, withRetry } from '../../util/retry.js';

export interface RetryOptions {
  /** Per-attempt timeout (ms). Default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 5. */
  retries?: number;
  /** Backoff base and cap (ms). Defaults 250 and 30000. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  headers?: Record<string, string>;
  /** Uniform [0, 1) source for the jitter (tests pass a fixed one). Default Math.random. */
  random?: () => number;
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    readonly body: string,
    /** The server's Retry-After, in ms (0: none): the next attempt waits at least this long. */
    readonly retryAfterMs = 0,
  ) {
    super(`POST ${url}: HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
    this.name = 'HttpStatusError';
  }
}

/** Delay before retry number `attempt` (0-based): uniform in [0, min(max, base * 2^attempt)). */
export const backoffDelay = jitteredDelay;

/** Worth retrying: network errors and timeouts, 408, 429 and 5xx. */
export function retryable(err: unknown): boolean {
  if (err instanceof HttpStatusError) return err.status === 408 || err.status === 429 || err.status >= 500;
  return true;
}

function retryAfterMs(res: Response): number {
  const h = res.headers.get('retry-after');
  if (!h) return 0;
  const s = Number(h);
  if (Number.isFinite(s)) return s * 1000;
  const at = Date.parse(h);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

/** POST `body` as JSON; returns the number of attempts it took. Throws the last error. */
export async function postJsonWithRetry(url: string, body: unknown, opts: RetryOptions = {}, signal?: AbortSignal): Promise<number> {
  const retries = opts.retries ?? 5;
  const base = opts.baseDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const payload = JSON.stringify(body);
  return withRetry(
    async (attempt) => {
      const sig = signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...opts.headers },
        body: payload,
        signal: sig,
      });
      const text = await res.text();
      if (res.ok) return attempt + 1;
      throw new HttpStatusError(res.status, url, text, retryAfterMs(res));
    },
    {
      retries,
      retriable: retryable,
      delayMs: (attempt, err) => Math.min(max, Math.max(err instanceof HttpStatusError ? err.retryAfterMs : 0, backoffDelay(attempt, base, max, opts.random))),
      signal,
    },
  );
}
