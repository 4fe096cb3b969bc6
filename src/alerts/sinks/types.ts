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

/**
 * What the dispatcher reports per sink (the daemon's NoisefloorMetrics implements it as
 * noisefloor_alert_sink_* series); kept narrow so alerts/ does not depend on the daemon.
 */
export interface SinkMetrics {
  registerSink(sink: string): void;
  sinkDelivered(sink: string, count?: number): void;
  sinkFailed(sink: string, count?: number): void;
  sinkDroppedEvents(sink: string, count?: number): void;
  setSinkQueueDepth(sink: string, depth: number): void;
}
