import type { AlertEvent } from '../types.js';

/**
 * Where alert events go. `send` resolves once the batch is delivered and rejects when the
 * sink gave up on it (after its own retries); the dispatcher counts either outcome.
 * `signal` aborts in-flight work at shutdown.
 */
export interface AlertSink {
  readonly name: string;
  send(events: AlertEvent[], signal?: AbortSignal): Promise<void>;
  /** Start background work (periodic re-sends). */
  start?(): void;
  /** Stop background work. */
  stop?(): Promise<void>;
}
