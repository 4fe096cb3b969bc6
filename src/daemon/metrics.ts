/**
 * Prometheus metrics of the daemon, on an explicit prom-client Registry (never the global
 * one), with Node's default process metrics (`process_*`, `nodejs_*`, unprefixed as
 * dashboards expect them) and noisefloor's own metrics, all prefixed `noisefloor_`.
 *
 * Cardinality guard: the first `maxStreams` streams seen carry their own `stream` label;
 * every later stream is folded into `stream="_other"` and counted once (up to
 * `maxFoldedTracked` distinct names) in `noisefloor_streams_folded_total`. Gauges of the
 * `_other` series hold the value written last by any folded stream; counters and
 * histograms sum over them. `forgetStream()` frees a stream's slot and removes its series.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ScoreEvent } from '../scoring/types.js';
import type { AlertEvent, AlertSeverity } from '../alerts/types.js';
import type { SinkMetrics } from '../alerts/sinks/types.js';
import { BATCH_REASONS, type BatchReason } from './batch-controller.js';

export const OTHER_STREAM = '_other';
export const OTHER_REASON = 'other';

/** Every metric noisefloor itself exports (histograms also export _bucket, _sum, _count). */
export const METRIC_NAMES = [
  'noisefloor_build_info',
  'noisefloor_windows_scored_total',
  'noisefloor_anomalous_windows_total',
  'noisefloor_stream_score',
  'noisefloor_stream_raw_score',
  'noisefloor_stream_threshold',
  'noisefloor_stream_last_scored_timestamp_seconds',
  'noisefloor_window_score',
  'noisefloor_alerts_firing',
  'noisefloor_alerts_total',
  'noisefloor_scoring_latency_seconds',
  'noisefloor_scoring_batch_windows',
  'noisefloor_scoring_batch_size',
  'noisefloor_scoring_batches_total',
  'noisefloor_scoring_cost_seconds',
  'noisefloor_queue_age_seconds',
  'noisefloor_queue_oldest_age_seconds',
  'noisefloor_window_latency_seconds',
  'noisefloor_messages_decoded_total',
  'noisefloor_messages_rejected_total',
  'noisefloor_input_limit_exceeded_total',
  'noisefloor_consumer_lag_messages',
  'noisefloor_queue_depth',
  'noisefloor_source_pauses_total',
  'noisefloor_model_info',
  'noisefloor_model_reloads_total',
  'noisefloor_alert_sink_deliveries_total',
  'noisefloor_alert_sink_failures_total',
  'noisefloor_alert_sink_dropped_total',
  'noisefloor_alert_sink_queue_depth',
  'noisefloor_streams_tracked',
  'noisefloor_streams_folded_total',
  'noisefloor_commit_failures_total',
  'noisefloor_state_restore_seconds',
  'noisefloor_state_restore_streams',
  'noisefloor_state_restore_bytes',
  'noisefloor_state_records_written_total',
  'noisefloor_stream_memory_bytes',
  'noisefloor_stream_memory_streams',
  'noisefloor_stream_memory_dropped_total',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Histograms among METRIC_NAMES (their series carry _bucket/_sum/_count suffixes). */
export const HISTOGRAM_NAMES: readonly MetricName[] = [
  'noisefloor_window_score',
  'noisefloor_scoring_latency_seconds',
  'noisefloor_scoring_batch_windows',
  'noisefloor_queue_age_seconds',
  'noisefloor_window_latency_seconds',
];

export interface MetricsOptions {
  /** Streams that get their own `stream` label; the rest fold into "_other". Default 100. */
  maxStreams?: number;
  /** Distinct folded stream names remembered for noisefloor_streams_folded_total. Default 100000. */
  maxFoldedTracked?: number;
  /** Distinct rejection reasons before they fold into "other". Default 32. */
  maxReasons?: number;
  /** Collect Node's default process metrics. Default true. */
  defaultMetrics?: boolean;
  /** Buckets of the calibrated score histogram (dense near 1 where thresholds live). */
  scoreBuckets?: number[];
  latencyBuckets?: number[];
  batchBuckets?: number[];
  /** Value of noisefloor_build_info's version label. */
  version?: string;
}

export interface ModelInfo {
  version: string;
  provider: string;
  /** Window length (steps); a label value. */
  window: number | string;
  /** Training time, ISO 8601. */
  trainedAt: string;
}

export const DEFAULT_SCORE_BUCKETS = [0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999, 0.99999];
export const DEFAULT_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const DEFAULT_BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

function tsSeconds(ts: number | string | undefined): number | undefined {
  if (typeof ts === 'number' && Number.isFinite(ts)) return ts / 1000;
  if (typeof ts === 'string') {
    const ms = Date.parse(ts);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  return undefined;
}

export class NoisefloorMetrics implements SinkMetrics {
  readonly registry: Registry;
  readonly maxStreams: number;
  private readonly maxFoldedTracked: number;
  private readonly maxReasons: number;
  private readonly labelled = new Set<string>();
  private readonly folded = new Set<string>();
  private readonly reasons = new Set<string>();
  /** fingerprint -> [stream label, severity] of alerts currently firing. */
  private readonly firingAlerts = new Map<string, [string, AlertSeverity]>();
  private modelLabels: Record<string, string> | null = null;

  private readonly buildInfo: Gauge<'version' | 'node_version'>;
  private readonly windowsScored: Counter<'stream'>;
  private readonly anomalousWindows: Counter<'stream'>;
  private readonly streamScore: Gauge<'stream'>;
  private readonly streamRaw: Gauge<'stream'>;
  private readonly streamThreshold: Gauge<'stream'>;
  private readonly streamLastTs: Gauge<'stream'>;
  private readonly windowScore: Histogram<'stream'>;
  private readonly alertsFiring: Gauge<'stream' | 'severity'>;
  private readonly alertsTotal: Counter<'severity'>;
  private readonly latency: Histogram;
  private readonly batch: Histogram;
  private readonly batchSize: Gauge;
  private readonly batches: Counter<'reason'>;
  private readonly batchCost: Gauge<'term'>;
  private readonly queueAge: Histogram;
  private readonly queueOldestAge: Gauge;
  private queueOldestAgeSource: (() => number) | null = null;
  private readonly windowLatency: Histogram;
  private readonly decoded: Counter<'source'>;
  private readonly rejected: Counter<'source' | 'reason'>;
  private readonly limitExceeded: Counter<'source' | 'limit'>;
  private readonly lag: Gauge<'topic' | 'partition'>;
  private readonly lagByPartition = new Map<string, number>();
  private readonly queueDepth: Gauge<'queue'>;
  private readonly sourcePauses: Counter<'source'>;
  private readonly modelInfo: Gauge<'version' | 'provider' | 'window' | 'trained_at'>;
  private readonly modelReloads: Counter<'result'>;
  private readonly sinkDeliveries: Counter<'sink'>;
  private readonly sinkFailures: Counter<'sink'>;
  private readonly sinkDropped: Counter<'sink'>;
  private readonly sinkQueue: Gauge<'sink'>;
  private readonly streamsTracked: Gauge;
  private readonly streamsFolded: Counter;
  private readonly commitFailures: Counter<'stage'>;
  private readonly restoreSeconds: Gauge<'topic' | 'partition'>;
  private readonly restoreStreams: Gauge<'topic' | 'partition'>;
  private readonly restoreBytes: Gauge<'topic' | 'partition'>;
  private readonly stateWritten: Counter;
  private readonly memoryBytes: Gauge;
  private readonly memoryStreams: Gauge<'state'>;
  private readonly memoryDropped: Counter;
  private memoryDroppedSeen = 0;

  constructor(opts: MetricsOptions = {}) {
    this.maxStreams = opts.maxStreams ?? 100;
    this.maxFoldedTracked = opts.maxFoldedTracked ?? 100_000;
    this.maxReasons = opts.maxReasons ?? 32;
    if (!Number.isInteger(this.maxStreams) || this.maxStreams < 0) throw new RangeError('metrics: maxStreams must be an integer >= 0');
    const registry = new Registry();
    this.registry = registry;
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    const registers = [registry];

    this.buildInfo = new Gauge({ name: 'noisefloor_build_info', help: 'Build information; always 1.', labelNames: ['version', 'node_version'], registers });
    this.buildInfo.set({ version: opts.version ?? 'unknown', node_version: process.version }, 1);
    this.windowsScored = new Counter({ name: 'noisefloor_windows_scored_total', help: 'Windows scored.', labelNames: ['stream'], registers });
    this.anomalousWindows = new Counter({
      name: 'noisefloor_anomalous_windows_total',
      help: 'Windows whose calibrated score reached the threshold.',
      labelNames: ['stream'],
      registers,
    });
    this.streamScore = new Gauge({ name: 'noisefloor_stream_score', help: 'Calibrated score in [0, 1] of the last window scored.', labelNames: ['stream'], registers });
    this.streamRaw = new Gauge({ name: 'noisefloor_stream_raw_score', help: 'Raw anomaly score (model-space error) of the last window scored.', labelNames: ['stream'], registers });
    this.streamThreshold = new Gauge({ name: 'noisefloor_stream_threshold', help: 'Calibrated threshold the last window was decided with.', labelNames: ['stream'], registers });
    this.streamLastTs = new Gauge({
      name: 'noisefloor_stream_last_scored_timestamp_seconds',
      help: 'Unix time of the end of the last window scored (its data timestamp, else scoring time).',
      labelNames: ['stream'],
      registers,
    });
    this.windowScore = new Histogram({
      name: 'noisefloor_window_score',
      help: 'Distribution of calibrated window scores.',
      labelNames: ['stream'],
      buckets: opts.scoreBuckets ?? DEFAULT_SCORE_BUCKETS,
      registers,
    });
    this.alertsFiring = new Gauge({ name: 'noisefloor_alerts_firing', help: 'Alerts currently firing.', labelNames: ['stream', 'severity'], registers });
    this.alertsTotal = new Counter({ name: 'noisefloor_alerts_total', help: 'Alert episodes started.', labelNames: ['severity'], registers });
    this.latency = new Histogram({
      name: 'noisefloor_scoring_latency_seconds',
      help: 'Time to score one micro-batch.',
      buckets: opts.latencyBuckets ?? DEFAULT_LATENCY_BUCKETS,
      registers,
    });
    this.batch = new Histogram({
      name: 'noisefloor_scoring_batch_windows',
      help: 'Windows per scored micro-batch.',
      buckets: opts.batchBuckets ?? DEFAULT_BATCH_BUCKETS,
      registers,
    });
    this.batchSize = new Gauge({ name: 'noisefloor_scoring_batch_size', help: 'Windows in the batch chosen last (by the latency target, maxBatch or maxWaitMs).', registers });
    this.batches = new Counter({
      name: 'noisefloor_scoring_batches_total',
      help: 'Batches taken, by why: full, wait (maxWaitMs), deadline (the latency target), backlog (oldest window already late: throughput first), drain.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of BATCH_REASONS) this.batches.inc({ reason }, 0);
    this.batchCost = new Gauge({
      name: 'noisefloor_scoring_cost_seconds',
      help: 'Measured cost of serving a batch (scoring and outputs): term="batch" per batch, term="window" per window.',
      labelNames: ['term'],
      registers,
    });
    this.queueAge = new Histogram({
      name: 'noisefloor_queue_age_seconds',
      help: 'How long the oldest window of each batch had queued when the batch was taken.',
      buckets: opts.latencyBuckets ?? DEFAULT_LATENCY_BUCKETS,
      registers,
    });
    const ageSource = () => this.queueOldestAgeSource;
    this.queueOldestAge = new Gauge({
      name: 'noisefloor_queue_oldest_age_seconds',
      help: 'Age of the oldest window waiting to be scored now (0 when none).',
      registers,
      collect() {
        const f = ageSource();
        if (f) this.set(f());
      },
    });
    this.windowLatency = new Histogram({
      name: 'noisefloor_window_latency_seconds',
      help: 'Per batch, the latest of its windows from entering the queue to reaching the outputs (queue age plus serving time); compare with batching.latencyTargetMs.',
      buckets: opts.latencyBuckets ?? DEFAULT_LATENCY_BUCKETS,
      registers,
    });
    this.decoded = new Counter({ name: 'noisefloor_messages_decoded_total', help: 'Input messages decoded.', labelNames: ['source'], registers });
    this.rejected = new Counter({ name: 'noisefloor_messages_rejected_total', help: 'Input messages rejected, by reason.', labelNames: ['source', 'reason'], registers });
    this.limitExceeded = new Counter({
      name: 'noisefloor_input_limit_exceeded_total',
      help: 'Inputs that hit an input limit (message_bytes, line_bytes, channels, streams_per_batch, wav_header).',
      labelNames: ['source', 'limit'],
      registers,
    });
    this.lag = new Gauge({ name: 'noisefloor_consumer_lag_messages', help: 'Kafka consumer lag: messages between the last one read and the high watermark.', labelNames: ['topic', 'partition'], registers });
    this.queueDepth = new Gauge({ name: 'noisefloor_queue_depth', help: 'Items waiting in an internal queue.', labelNames: ['queue'], registers });
    this.sourcePauses = new Counter({
      name: 'noisefloor_source_pauses_total',
      help: 'Times a source stopped reading because the window queue was full (backpressure).',
      labelNames: ['source'],
      registers,
    });
    this.modelInfo = new Gauge({
      name: 'noisefloor_model_info',
      help: 'The model loaded; always 1.',
      labelNames: ['version', 'provider', 'window', 'trained_at'],
      registers,
    });
    this.modelReloads = new Counter({ name: 'noisefloor_model_reloads_total', help: 'Model (re)loads, by result.', labelNames: ['result'], registers });
    this.sinkDeliveries = new Counter({ name: 'noisefloor_alert_sink_deliveries_total', help: 'Alert events delivered, by sink.', labelNames: ['sink'], registers });
    this.sinkFailures = new Counter({ name: 'noisefloor_alert_sink_failures_total', help: 'Alert events a sink failed to deliver (after its retries).', labelNames: ['sink'], registers });
    this.sinkDropped = new Counter({ name: 'noisefloor_alert_sink_dropped_total', help: 'Alert events dropped because a sink queue was full.', labelNames: ['sink'], registers });
    this.sinkQueue = new Gauge({ name: 'noisefloor_alert_sink_queue_depth', help: 'Alert events waiting for a sink.', labelNames: ['sink'], registers });
    this.streamsTracked = new Gauge({ name: 'noisefloor_streams_tracked', help: 'Streams with their own stream label.', registers });
    this.streamsFolded = new Counter({
      name: 'noisefloor_streams_folded_total',
      help: 'Distinct streams folded into stream="_other" by the cardinality guard.',
      registers,
    });
    this.commitFailures = new Counter({
      name: 'noisefloor_commit_failures_total',
      help: 'Failed commits, by stage: changelog (stream state write) or offsets (offset commit).',
      labelNames: ['stage'],
      registers,
    });
    this.restoreSeconds = new Gauge({
      name: 'noisefloor_state_restore_seconds',
      help: 'Time the last stream state restore of a partition took (changelog read on assignment).',
      labelNames: ['topic', 'partition'],
      registers,
    });
    this.restoreStreams = new Gauge({ name: 'noisefloor_state_restore_streams', help: 'Streams restored by the last state restore of a partition.', labelNames: ['topic', 'partition'], registers });
    this.restoreBytes = new Gauge({ name: 'noisefloor_state_restore_bytes', help: 'Changelog bytes read by the last state restore of a partition.', labelNames: ['topic', 'partition'], registers });
    this.stateWritten = new Counter({ name: 'noisefloor_state_records_written_total', help: 'Stream state records written to the changelog (tombstones included).', registers });
    this.memoryBytes = new Gauge({ name: 'noisefloor_stream_memory_bytes', help: 'Bytes held by the per-stream window memories (warm-up buffers included).', registers });
    this.memoryStreams = new Gauge({ name: 'noisefloor_stream_memory_streams', help: 'Streams with a window memory, by state (warming, ready).', labelNames: ['state'], registers });
    this.memoryDropped = new Counter({
      name: 'noisefloor_stream_memory_dropped_total',
      help: 'Window memories dropped (least recently scored) to stay within memory.maxStreams or memory.maxBytes.',
      registers,
    });
    for (const result of ['success', 'failure']) this.modelReloads.inc({ result }, 0);
    for (const stage of ['changelog', 'offsets']) this.commitFailures.inc({ stage }, 0);
  }

  /** A commit failed (stage: changelog or offsets). */
  commitFailed(stage: 'changelog' | 'offsets'): void {
    this.commitFailures.inc({ stage });
  }

  stateRestored(topic: string, partition: number, seconds: number, streams: number, bytes: number): void {
    const l = { topic, partition: String(partition) };
    this.restoreSeconds.set(l, seconds);
    this.restoreStreams.set(l, streams);
    this.restoreBytes.set(l, bytes);
  }

  stateRecordsWritten(n: number): void {
    this.stateWritten.inc(n);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The `stream` label value for a stream, applying the cardinality guard. */
  streamLabel(stream: string): string {
    if (this.labelled.has(stream)) return stream;
    if (stream !== OTHER_STREAM && this.labelled.size < this.maxStreams) {
      this.labelled.add(stream);
      this.streamsTracked.set(this.labelled.size);
      return stream;
    }
    if (!this.folded.has(stream) && this.folded.size < this.maxFoldedTracked) {
      this.folded.add(stream);
      this.streamsFolded.inc();
    }
    return OTHER_STREAM;
  }

  /** Record scored windows: counts, last score/threshold gauges, score histogram. */
  observeScores(events: readonly ScoreEvent[]): void {
    const nowS = Date.now() / 1000;
    for (const ev of events) {
      const stream = this.streamLabel(ev.stream);
      const l = { stream };
      this.windowsScored.inc(l);
      if (ev.anomaly || ev.score >= ev.threshold) this.anomalousWindows.inc(l);
      if (Number.isFinite(ev.score)) {
        this.streamScore.set(l, ev.score);
        this.windowScore.observe(l, ev.score);
      }
      if (Number.isFinite(ev.raw)) this.streamRaw.set(l, ev.raw);
      if (Number.isFinite(ev.threshold)) this.streamThreshold.set(l, ev.threshold);
      this.streamLastTs.set(l, tsSeconds(ev.endTs) ?? nowS);
    }
  }

  /** Record one scored micro-batch. */
  observeBatch(size: number, seconds: number): void {
    this.batch.observe(size);
    this.latency.observe(seconds);
  }

  /** A batch was taken from the window queue: its size, why, and how long its oldest window had waited. */
  batchTaken(size: number, reason: BatchReason, queueAgeSeconds: number): void {
    this.batchSize.set(size);
    this.batches.inc({ reason });
    this.queueAge.observe(queueAgeSeconds);
  }

  /** A batch reached the outputs: its oldest window's latency and the cost model after it. */
  batchServed(latencySeconds: number, perBatchSeconds: number, perWindowSeconds: number): void {
    this.windowLatency.observe(latencySeconds);
    this.batchCost.set({ term: 'batch' }, perBatchSeconds);
    this.batchCost.set({ term: 'window' }, perWindowSeconds);
  }

  /** Where noisefloor_queue_oldest_age_seconds reads the queue's oldest window age (seconds) at each scrape. */
  setQueueAgeSource(f: () => number): void {
    this.queueOldestAgeSource = f;
  }

  /** Track alert events: the firing gauge and the episodes counter. */
  observeAlerts(events: readonly AlertEvent[]): void {
    for (const a of events) {
      const prev = this.firingAlerts.get(a.fingerprint);
      if (prev) this.alertsFiring.dec({ stream: prev[0], severity: prev[1] });
      if (a.status === 'firing') {
        const stream = prev?.[0] ?? this.streamLabel(a.stream);
        this.firingAlerts.set(a.fingerprint, [stream, a.severity]);
        this.alertsFiring.inc({ stream, severity: a.severity });
        if (a.reason === 'n_of_m' && !prev) this.alertsTotal.inc({ severity: a.severity });
      } else {
        this.firingAlerts.delete(a.fingerprint);
      }
    }
  }

  messagesDecoded(source: string, count = 1): void {
    this.decoded.inc({ source }, count);
  }

  messagesRejected(source: string, reason: string, count = 1): void {
    if (!this.reasons.has(reason)) {
      if (this.reasons.size >= this.maxReasons) reason = OTHER_REASON;
      else this.reasons.add(reason);
    }
    this.rejected.inc({ source, reason }, count);
  }

  /** An input hit one of the limits; `limit` is one of InputLimitName (a fixed set, no cardinality guard needed). */
  inputLimitExceeded(source: string, limit: string, count = 1): void {
    this.limitExceeded.inc({ source, limit }, count);
  }

  setConsumerLag(topic: string, partition: number, lag: number): void {
    this.lag.set({ topic, partition: String(partition) }, lag);
    this.lagByPartition.set(`${topic}/${partition}`, lag);
  }

  /** Remove a partition's lag series (partition revoked). */
  removeConsumerLag(topic: string, partition: number): void {
    const l = { topic, partition: String(partition) };
    this.lag.remove(l);
    this.restoreSeconds.remove(l);
    this.restoreStreams.remove(l);
    this.restoreBytes.remove(l);
    this.lagByPartition.delete(`${topic}/${partition}`);
  }

  /** Sum of the consumer lag over the partitions held now; null before any was reported. */
  totalConsumerLag(): number | null {
    if (this.lagByPartition.size === 0) return null;
    let sum = 0;
    for (const v of this.lagByPartition.values()) sum += v;
    return sum;
  }

  setQueueDepth(queue: string, depth: number): void {
    this.queueDepth.set({ queue }, depth);
  }

  /** A source paused reading because the window queue was full. */
  sourcePaused(source: string): void {
    this.sourcePauses.inc({ source });
  }

  /** Publish the loaded model; replaces the previous model's series. */
  setModelInfo(info: ModelInfo): void {
    if (this.modelLabels) this.modelInfo.remove(this.modelLabels);
    this.modelLabels = { version: info.version, provider: info.provider, window: String(info.window), trained_at: info.trainedAt };
    this.modelInfo.set(this.modelLabels, 1);
  }

  modelReloaded(ok: boolean): void {
    this.modelReloads.inc({ result: ok ? 'success' : 'failure' });
  }

  /** Create a sink's series at zero so rate() and absent() work before the first event. */
  registerSink(sink: string): void {
    this.sinkDeliveries.inc({ sink }, 0);
    this.sinkFailures.inc({ sink }, 0);
    this.sinkDropped.inc({ sink }, 0);
    this.sinkQueue.set({ sink }, 0);
  }

  sinkDelivered(sink: string, count = 1): void {
    this.sinkDeliveries.inc({ sink }, count);
  }

  sinkFailed(sink: string, count = 1): void {
    this.sinkFailures.inc({ sink }, count);
  }

  sinkDroppedEvents(sink: string, count = 1): void {
    this.sinkDropped.inc({ sink }, count);
  }

  setSinkQueueDepth(sink: string, depth: number): void {
    this.sinkQueue.set({ sink }, depth);
  }

  /** The window memories' totals (memory section of serve); `dropped` counts since start. */
  setStreamMemory(stats: { bytes: number; ready: number; warming: number; dropped: number }): void {
    this.memoryBytes.set(stats.bytes);
    this.memoryStreams.set({ state: 'ready' }, stats.ready);
    this.memoryStreams.set({ state: 'warming' }, stats.warming);
    if (stats.dropped > this.memoryDroppedSeen) this.memoryDropped.inc(stats.dropped - this.memoryDroppedSeen);
    this.memoryDroppedSeen = stats.dropped;
  }

  /** Free a stream's label slot and remove its series (stream gone, partition revoked). */
  forgetStream(stream: string): void {
    if (!this.labelled.delete(stream)) return;
    this.streamsTracked.set(this.labelled.size);
    const l = { stream };
    for (const m of [this.windowsScored, this.anomalousWindows, this.streamScore, this.streamRaw, this.streamThreshold, this.streamLastTs, this.windowScore]) {
      m.remove(l);
    }
    for (const severity of ['warning', 'critical']) this.alertsFiring.remove({ stream, severity });
    for (const [fp, [s]] of this.firingAlerts) if (s === stream) this.firingAlerts.delete(fp);
  }
}
