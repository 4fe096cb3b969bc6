/**
 * Where scored windows go. Every sink takes a batch of ScoreEvents; a window counts as
 * "handed on" (and its messages may be committed) once every sink's `write` resolved.
 * A sink that throws is retried by the daemon (see Pipeline), so a Kafka outage delays
 * commits instead of losing windows.
 */
import type { Producer } from 'kafkajs';
import type { AlertEngine } from '../alerts/engine.js';
import type { NoisefloorMetrics } from './metrics.js';
import type { AlertDispatcher } from '../alerts/sinks/dispatcher.js';
import type { AlertEvent } from '../alerts/types.js';
import type { PooledScore, ScoreEvent } from '../scoring/types.js';

export interface ScoreEventSink {
  readonly name: string;
  write(events: ScoreEvent[]): Promise<void>;
  close?(): Promise<void>;
}

/** The JSON form of a score event on stdout and on the score-events topic. */
export interface ScoreEventRecord {
  stream: string;
  windowStart: number;
  windowEnd: number;
  startTs?: number | string;
  endTs?: number | string;
  raw: number;
  score: number;
  /** -log10 of the score's tail probability, no cap (absent without a calibration). */
  surprise?: number;
  threshold: number;
  anomaly: boolean;
  topChannels: string[];
  modelVersion: string;
  instance: string;
  scoredAt: number;
  horizon?: PooledScore;
  parts?: { network: number; memory: number | null };
}

export function toRecord(ev: ScoreEvent, instance: string, scoredAt = Date.now()): ScoreEventRecord {
  const r: ScoreEventRecord = {
    stream: ev.stream,
    windowStart: ev.start,
    windowEnd: ev.end,
    raw: Number(ev.raw.toPrecision(6)),
    score: Number.isFinite(ev.score) ? Number(ev.score.toFixed(6)) : ev.score,
    threshold: ev.threshold,
    anomaly: ev.anomaly,
    topChannels: ev.topChannels,
    modelVersion: ev.modelVersion,
    instance,
    scoredAt,
  };
  if (ev.surprise !== undefined && Number.isFinite(ev.surprise)) r.surprise = Number(ev.surprise.toPrecision(6));
  if (ev.startTs !== undefined) r.startTs = ev.startTs;
  if (ev.endTs !== undefined) r.endTs = ev.endTs;
  if (ev.horizon) r.horizon = ev.horizon;
  if (ev.parts) r.parts = ev.parts;
  return r;
}

/** JSON lines on stdout: every window, or flagged windows only. */
export class StdoutSink implements ScoreEventSink {
  readonly name = 'stdout';
  constructor(
    private readonly instance: string,
    private readonly anomaliesOnly: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  async write(events: ScoreEvent[]): Promise<void> {
    let text = '';
    const now = Date.now();
    for (const ev of events) if (!this.anomaliesOnly || ev.anomaly) text += JSON.stringify(toRecord(ev, this.instance, now)) + '\n';
    if (text === '') return;
    if (!this.out.write(text)) await new Promise<void>((r) => this.out.once('drain', () => r()));
  }
}

/** Score events topic: one JSON message per window, keyed by stream. */
export class KafkaScoreSink implements ScoreEventSink {
  readonly name = 'kafka';
  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    private readonly topic: string,
    private readonly instance: string,
  ) {}

  async write(events: ScoreEvent[]): Promise<void> {
    if (events.length === 0) return;
    const now = Date.now();
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: events.map((ev) => ({ key: ev.stream, value: JSON.stringify(toRecord(ev, this.instance, now)) })),
    });
  }
}

/** Alert engine + sinks: alert events are queued to the dispatcher (never blocks scoring). */
export class AlertsSink implements ScoreEventSink {
  readonly name = 'alerts';
  constructor(
    readonly engine: AlertEngine,
    private readonly dispatcher: AlertDispatcher,
    private readonly metrics?: NoisefloorMetrics,
    /** Alert starts and resolves for people: the console, or a log line. */
    private readonly onAlerts?: (alerts: AlertEvent[]) => void,
  ) {}

  private emit(alerts: AlertEvent[]): void {
    if (alerts.length === 0) return;
    this.metrics?.observeAlerts(alerts);
    this.dispatcher.enqueue(alerts);
    this.onAlerts?.(alerts);
  }

  async write(events: ScoreEvent[]): Promise<void> {
    this.emit(this.engine.processBatch(events));
  }

  /** Periodic: resolve alerts of silent streams. */
  sweep(): void {
    this.emit(this.engine.sweep());
  }

  /** Forget streams (partition revoked). */
  reset(streams: string[]): void {
    this.emit(streams.flatMap((s) => this.engine.reset(s)));
  }
}
