/**
 * `noisefloor serve`: wires source -> decoder -> stream registry -> micro-batcher ->
 * detector -> sinks (stdout, score-events topic, alert engine + alert sinks) and metrics,
 * and owns the lifecycle: start-up, model hot reload (SIGHUP, directory watch), graceful
 * shutdown (SIGTERM/SIGINT: stop fetching, score what is queued, commit, disconnect).
 */
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import kafkajs, { type Producer } from 'kafkajs';
import { AlertEngine } from '../alerts/engine.js';
import { NoisefloorMetrics } from './metrics.js';
import { AlertDispatcher, AlertmanagerSink, KafkaAlertSink, WebhookSink, type AlertSink } from '../alerts/sinks/index.js';
import { featurizerFor, type SampledStreaming } from '../features/index.js';
import type { DaemonConfig, KafkaConnectionConfig } from '../config/daemon.js';
import { loadWebConfig } from '../config/web.js';
import { NOISEFLOOR_VERSION } from '../util/version.js';
import type { AlertEvent } from '../alerts/types.js';
import type { ScoreEvent } from '../scoring/types.js';
import { StreamMemoryFusion } from '../scoring/stream-fusion.js';
import { ConsoleView } from './console.js';
import { ConfigError } from '../util/errors.js';
import { exponentialDelay, withRetry } from '../util/retry.js';
import type { Logger } from '../util/log.js';
import { MicroBatcher } from './batcher.js';
import { DaemonHttpServer, engineStreams, type Readiness } from './http.js';
import { explainKafkaError, kafkaClientConfig } from './kafka-client.js';
import { KafkaSource } from './kafka-source.js';
import { ModelManager, trainBootstrapModel } from './model.js';
import { AlertsSink, KafkaScoreSink, StdoutSink, type ScoreEventSink } from './outputs.js';
import { FileSource, GeneratorSource, type Source } from './sources.js';
import { StreamRegistry, type TrackedWindow } from './streams.js';

const { Kafka, Partitioners } = kafkajs;

export interface DaemonOptions {
  /** A terminal: readable alert lines and periodic summaries instead of a JSON line per window. */
  console?: NodeJS.WritableStream;
  /** Seconds between console summaries (default 10). */
  summaryIntervalMs?: number;
}

export interface DaemonStats {
  windowsScored: number;
  batches: number;
  anomalous: number;
}

/** A failed listen as one line a person can act on (exit 2), not a stack trace. */
function listenError(e: unknown, port: number, host: string | undefined): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  const where = `${host ?? '0.0.0.0'}:${port}`;
  if (code === 'EADDRINUSE') return new ConfigError(`http.port: ${where} is already in use (another noisefloor serve?); set http.port to a free port, or http.enabled: false`);
  if (code === 'EACCES') return new ConfigError(`http.port: no permission to listen on ${where} (ports below 1024 need privileges); choose a port above 1023`);
  if (code === 'EADDRNOTAVAIL') return new ConfigError(`http: ${where} is not an address of this machine`);
  return e instanceof Error ? e : new Error(String(e));
}

export class Daemon {
  readonly metrics: NoisefloorMetrics;
  readonly instance: string;
  model!: ModelManager;
  registry!: StreamRegistry;
  batcher!: MicroBatcher<TrackedWindow>;
  /** A sampled-signal model's streaming (audio); null for time series. */
  private sampled: SampledStreaming | null = null;
  /** Per-stream window memories fused into the scores (config `memory`), when enabled. */
  private memory: StreamMemoryFusion | null = null;
  source!: Source;
  http: DaemonHttpServer | null = null;
  private sinks: ScoreEventSink[] = [];
  private readonly extraSinks: ScoreEventSink[] = [];
  private alerts: AlertsSink | null = null;
  private dispatcher: AlertDispatcher | null = null;
  private producers: Producer[] = [];
  private loop: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private draining = false;
  private fatal: Error | null = null;
  private stopping: Promise<number> | null = null;
  private exitResolve!: (code: number) => void;
  /** Resolves with the exit code once the daemon stopped (signal, finished source, fatal error). */
  readonly exited: Promise<number>;
  readonly stats: DaemonStats = { windowsScored: 0, batches: 0, anomalous: 0 };

  private view: ConsoleView | null = null;
  /** The embedded default's temporary model folder, removed at stop. */
  private bootstrapDir: string | null = null;

  constructor(
    readonly config: DaemonConfig,
    private readonly log: Logger,
    private readonly options: DaemonOptions = {},
  ) {
    this.metrics = new NoisefloorMetrics({ maxStreams: config.metrics.maxStreams, version: NOISEFLOOR_VERSION });
    this.instance = config.instanceId ?? `${os.hostname()}-${process.pid}`;
    this.exited = new Promise((r) => (this.exitResolve = r));
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const log = this.log;
    if (cfg.http.enabled) {
      this.http = new DaemonHttpServer({
        registry: this.metrics.registry,
        port: cfg.http.port,
        host: cfg.http.host,
        ...(cfg.http.webConfigFile ? { security: loadWebConfig(cfg.http.webConfigFile) } : {}),
        streamsApi: cfg.http.streamsApi,
        logger: log.child({ component: 'http' }),
        readiness: () => this.readiness(),
        streams: (page) => (this.alerts ? engineStreams(this.alerts.engine)(page) : { total: 0, items: [] }),
      });
      await this.http.start().catch((e: unknown) => {
        throw listenError(e, cfg.http.port, cfg.http.host);
      });
    }

    let dir = cfg.model.dir;
    if (dir === undefined) {
      dir = await trainBootstrapModel(cfg.bootstrap, log);
      this.bootstrapDir = path.dirname(dir);
    }
    this.model = await ModelManager.open(dir, cfg.model, log.child({ component: 'model' }), this.metrics);
    if (cfg.model.watch) this.model.watch();
    const det = this.model.detector();
    const { length, hop } = det.model.manifest.window;
    this.sampled = featurizerFor({ manifest: det.model.manifest }).streaming(cfg);
    this.registry = new StreamRegistry({ length, hop, channels: det.model.channels }, cfg.streams, this.sampled ?? undefined);
    this.memory = cfg.memory.enabled ? this.streamMemory(length, det.model.channels) : null;
    this.batcher = new MicroBatcher<TrackedWindow>({
      maxBatch: cfg.batching.maxBatch,
      maxWaitMs: cfg.batching.maxWaitMs,
      capacity: cfg.batching.queueCapacity,
      latencyTargetMs: cfg.batching.latencyTargetMs,
    });
    const batcher = this.batcher;
    this.metrics.setQueueAgeSource(() => batcher.oldestAgeMs() / 1000);

    await this.buildSinks();
    this.sinks.push(...this.extraSinks);
    const ctx = { registry: this.registry, batcher: this.batcher, log: log.child({ component: 'source' }), metrics: this.metrics, channelNames: det.channelNames, modelInput: det.model.manifest.input };
    const src = cfg.source;
    if (src.kafka) {
      const producer = src.kafka.deadLetterTopic ? await this.producer(src.kafka, 'source.kafka') : undefined;
      this.source = new KafkaSource(src.kafka, ctx, {
        producer,
        badInputLogIntervalMs: cfg.badInputLogIntervalMs,
        onFatal: (e) => {
          this.fatal = e;
          void this.stop('kafka consumer crashed');
        },
        onStreamsRevoked: (streams) => {
          this.alerts?.reset(streams);
          this.memory?.forget(streams);
          for (const s of streams) this.metrics.forgetStream(s);
        },
      });
    } else if (src.file) this.source = new FileSource(src.file, ctx);
    else this.source = new GeneratorSource(src.generator!, ctx);

    this.loop = this.scoreLoop();
    this.timers.push(
      setInterval(() => {
        const swept = this.registry.sweep(Date.now());
        // Released reorder buffers of quiet streams: the queue never refuses (bounded by the buffers).
        if (!this.batcher.isClosed) for (const w of swept.windows) this.batcher.push(w);
        if (swept.expired.length) {
          log.info('idle streams expired (window memory freed; grid position kept)', { streams: swept.expired.length, flushedWindows: swept.windows.length });
          this.alerts?.reset(swept.expired.map((g) => g.stream));
          this.memory?.forget(swept.expired.map((g) => g.stream));
        }
        if (swept.forgotten) log.info('stream states past stateRetentionMs deleted', { streams: swept.forgotten });
        this.alerts?.sweep();
        this.metrics.setQueueDepth('windows', this.batcher.size);
      }, Math.max(1000, Math.min(60_000, cfg.streams.idleTimeoutMs / 4 || 60_000))),
    );
    for (const t of this.timers) t.unref();
    try {
      await this.source.start();
    } catch (e) {
      throw src.kafka ? explainKafkaError(e, src.kafka, 'source.kafka') : e;
    }
    void this.source.finished.then(() => this.stop('source finished'));
    if (this.view) {
      const host = cfg.http.host === '0.0.0.0' || cfg.http.host === '::' ? 'localhost' : cfg.http.host;
      this.view.banner({
        model: this.model.version,
        source: src.kafka ? `Kafka topics ${src.kafka.topics.join(', ')}` : src.file ? `${src.file.paths.length} file(s)` : `the built-in generator (${src.generator!.streams} streams)`,
        metricsUrl: this.http ? `http://${host.includes(':') ? `[${host}]` : host}:${this.http.port}/metrics` : null,
        sinks: Object.entries(cfg.alerts.sinks)
          .filter(([k, v]) => v && typeof v === 'object' && !['queueSize', 'maxBatch'].includes(k))
          .map(([k]) => k),
      });
      this.view.start();
    }
    log.info('serving', {
      instance: this.instance,
      source: this.source.kind,
      model: this.model.version,
      window: { length, hop },
      ...(this.sampled ? this.sampled.describe() : {}),
      http: this.http ? this.http.port : null,
      sinks: this.sinks.map((s) => s.name),
    });
  }

  /** The `memory` section as a StreamMemoryFusion; a per-stream memory larger than maxBytes is a config error. */
  private streamMemory(windowLength: number, channels: number): StreamMemoryFusion {
    const m = this.config.memory;
    const perStream = m.capacity * windowLength * channels * 4;
    if (perStream > m.maxBytes)
      throw new ConfigError(`memory.maxBytes: ${m.maxBytes} bytes cannot hold one stream's memory (capacity ${m.capacity} x window ${windowLength} x ${channels} channels x 4 bytes = ${perStream})`);
    return new StreamMemoryFusion({
      memory: { capacity: m.capacity, sigmas: m.sigmas, replacement: m.replacement },
      policy: { windowLength, insertEvery: m.insertEvery, insertBelowSurprise: m.insertBelowSurprise },
      warmupWindows: m.warmupWindows,
      maxStreams: m.maxStreams,
      maxBytes: m.maxBytes,
      // Only the tail probabilities are used (the flag follows the model's target).
      targetFalseAlarmRate: 0.001,
      tailQuantile: 0.9,
    });
  }

  /** An extra output, e.g. a benchmark's latency probe; call before start(). */
  addSink(sink: ScoreEventSink): void {
    this.extraSinks.push(sink);
  }

  private readiness(): Readiness {
    // A failed reload leaves the old model serving, so it does not make the daemon
    // unready (a bad model pushed to every replica would empty the Service); it shows in
    // noisefloor_model_reloads_total{result="failure"} and its alerting rule instead.
    const reasons: string[] = [...(this.source?.problems?.() ?? [])];
    return {
      modelLoaded: this.model !== undefined,
      consumerJoined: this.source?.ready() ?? false,
      draining: this.draining,
      reasons,
    };
  }

  private connectionFor(conn: Partial<KafkaConnectionConfig> & { brokers?: string[] }, where: string): KafkaConnectionConfig {
    const base = this.config.source.kafka;
    if (conn.brokers) return { ...(base ?? {}), ...conn, brokers: conn.brokers } as KafkaConnectionConfig;
    if (!base) throw new ConfigError(`${where}.brokers is required when the source is not Kafka`);
    return base;
  }

  private async producer(conn: KafkaConnectionConfig, where: string): Promise<Producer> {
    // A producer on the source's connection: its settings live under source.kafka.
    const at = conn === this.config.source.kafka ? 'source.kafka' : where;
    const kafka = new Kafka(kafkaClientConfig(conn, this.log.child({ component: 'kafka-producer' }), at));
    // Idempotent: kafkajs retries a whole produce request when one partition fails, which
    // would otherwise duplicate the partitions that had already been written.
    const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    try {
      await p.connect();
    } catch (e) {
      throw explainKafkaError(e, conn, at);
    }
    this.producers.push(p);
    return p;
  }

  private async buildSinks(): Promise<void> {
    const cfg = this.config;
    if (this.options.console) {
      this.view = new ConsoleView(
        this.options.console,
        () => ({
          streams: this.registry.streamCount,
          queue: this.batcher.size,
          lag: this.metrics.totalConsumerLag(),
          firing: this.alerts?.engine.firing().length ?? 0,
        }),
        this.options.summaryIntervalMs,
      );
      this.sinks.push(this.view);
    } else if (cfg.outputs.stdout.enabled) this.sinks.push(new StdoutSink(this.instance, cfg.outputs.stdout.anomaliesOnly));
    let outProducer: Producer | null = null;
    if (cfg.outputs.kafka) {
      outProducer = await this.producer(this.connectionFor(cfg.outputs.kafka, 'outputs.kafka'), 'outputs.kafka');
      this.sinks.push(new KafkaScoreSink(outProducer, cfg.outputs.kafka.topic, this.instance));
    }
    const a = cfg.alerts;
    if (a.enabled) {
      const alertSinks: AlertSink[] = [];
      if (a.sinks.alertmanager) alertSinks.push(new AlertmanagerSink(a.sinks.alertmanager));
      if (a.sinks.webhook) alertSinks.push(new WebhookSink(a.sinks.webhook));
      if (a.sinks.kafka) {
        const p = outProducer ?? (await this.producer(this.connectionFor(cfg.outputs.kafka ?? {}, 'alerts.sinks.kafka'), 'alerts.sinks.kafka'));
        alertSinks.push(new KafkaAlertSink({ producer: p, topic: a.sinks.kafka.topic }));
      }
      const engine = new AlertEngine({
        alertname: a.alertname,
        n: a.n,
        m: a.m,
        resolveWindows: a.resolveWindows,
        resolveRatio: a.resolveRatio,
        criticalRatio: a.criticalRatio,
        cooldownWindows: a.cooldownWindows,
        cooldownMs: a.cooldownMs,
        warmupWindows: a.warmupWindows,
        staleMs: a.staleMs,
      });
      this.dispatcher = new AlertDispatcher(alertSinks, { queueSize: a.sinks.queueSize, maxBatch: a.sinks.maxBatch, metrics: this.metrics, logger: this.log.child({ component: 'alerts' }) });
      this.dispatcher.start();
      const alertLog = this.log.child({ component: 'alerts' });
      const onAlerts = this.view
        ? (alerts: AlertEvent[]) => this.view?.alerts(alerts)
        : (alerts: AlertEvent[]) => {
            for (const a of alerts) {
              const fields = { stream: a.stream, severity: a.severity, reason: a.reason, peakScore: a.peakScore, threshold: a.threshold, topChannels: a.topChannels, firstWindow: a.firstWindow, lastWindow: a.lastWindow };
              if (a.status === 'firing') alertLog.warn('alert firing', fields);
              else alertLog.info('alert resolved', { ...fields, windowsAbove: a.windowsAbove });
            }
          };
      this.alerts = new AlertsSink(engine, this.dispatcher, this.metrics, onAlerts);
      this.sinks.push(this.alerts);
    }
  }

  /** Scores batches until the batcher is closed and empty; windows count as done once every sink took them. */
  private async scoreLoop(): Promise<void> {
    while (true) {
      const batch = await this.batcher.next();
      if (batch.length === 0) return;
      const taken = this.batcher.lastTaken;
      if (taken) this.metrics.batchTaken(batch.length, taken.reason, taken.queueAgeMs / 1000);
      const det = this.model.detector();
      let events: ScoreEvent[];
      const t0 = process.hrtime.bigint();
      try {
        const windows = batch.map((b) => b.window);
        events = this.sampled ? await this.sampled.scoreEvents(det, windows) : await det.scoreEvents(windows);
        if (this.memory) {
          this.memory.apply(windows, events, det.model.manifest.calibration);
          this.metrics.setStreamMemory(this.memory.stats());
        }
      } catch (e) {
        // A batch the model cannot score (shape mismatch) is logged and skipped, never retried forever.
        this.log.error('scoring failed; batch skipped', { windows: batch.length, err: e });
        for (const b of batch) this.registry.complete(b);
        continue;
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.metrics.observeBatch(batch.length, seconds);
      this.metrics.observeScores(events);
      this.stats.batches++;
      this.stats.windowsScored += events.length;
      for (const e of events) if (e.anomaly) this.stats.anomalous++;
      let retried = false;
      for (const sink of this.sinks) if (await this.writeWithRetry(sink, events)) retried = true;
      // A batch held up by a failing sink says nothing about the cost of scoring: not measured.
      if (!retried) {
        const servedMs = this.batcher.served(batch.length);
        const cost = this.batcher.controller.cost;
        this.metrics.batchServed(((taken?.queueAgeMs ?? 0) + servedMs) / 1000, cost.perBatchMs / 1000, cost.perWindowMs / 1000);
      }
      for (const b of batch) this.registry.complete(b);
      this.metrics.setQueueDepth('windows', this.batcher.size);
      this.source?.batchScored?.();
    }
  }

  /** True when the sink failed at least once before it took the events. */
  private async writeWithRetry(sink: ScoreEventSink, events: ScoreEvent[]): Promise<boolean> {
    // At-least-once: the windows' offsets stay uncommitted until the sink took them, so this
    // never gives up while the daemon runs.
    let failed = false;
    try {
      await withRetry(() => sink.write(events), {
        retries: Infinity,
        delayMs: (attempt) => exponentialDelay(attempt, 100, 5000),
        onFailure: (e, attempt) => {
          failed = true;
          this.log.error('output sink failed; retrying', { sink: sink.name, events: events.length, attempt, err: e });
          if (this.fatal) return false;
        },
      });
    } catch {
      // Given up only when the daemon failed fatally: the error was logged above.
    }
    return failed;
  }

  reload(reason: string): Promise<boolean> {
    return this.model.reload(reason);
  }

  /**
   * Graceful stop: stop reading, score every queued window, hand them to the sinks, commit,
   * disconnect. Exit code 0, or 1 after a fatal error or when it took longer than
   * shutdownTimeoutMs (then whatever is left is abandoned, uncommitted: at-least-once).
   */
  stop(reason: string, exitCode?: number): Promise<number> {
    if (this.stopping) return this.stopping;
    this.draining = true;
    this.log.info('shutting down', { reason, queued: this.batcher?.size ?? 0 });
    const run = async (): Promise<number> => {
      await this.source?.stop();
      this.batcher?.close();
      await this.loop;
      await this.source?.commitNow?.();
      await this.source?.close?.();
      await this.dispatcher?.stop(Math.min(5000, this.config.shutdownTimeoutMs / 3));
      await Promise.all(this.producers.map((p) => p.disconnect().catch(() => undefined)));
      for (const t of this.timers) clearInterval(t);
      await this.http?.stop();
      await this.model?.close();
      this.view?.stop();
      if (this.bootstrapDir) await rm(this.bootstrapDir, { recursive: true, force: true }).catch(() => undefined);
      if (this.fatal) return 1;
      const failures = this.source?.failures?.() ?? [];
      if (failures.length) {
        this.log.error('input errors; exiting 2', { failures });
        return 2;
      }
      return 0;
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        this.log.error('shutdown timed out; exiting with work left uncommitted', { timeoutMs: this.config.shutdownTimeoutMs });
        resolve(1);
      }, this.config.shutdownTimeoutMs);
    });
    this.stopping = Promise.race([
      run().catch((e: unknown) => {
        this.log.error('shutdown failed', { err: e });
        return 1;
      }),
      timeout,
    ]).then((stopped) => {
      // A failed start-up stops cleanly but exits with its error's code; the log says that one.
      const code = exitCode ?? stopped;
      clearTimeout(timer);
      this.log.info('stopped', { code, ...this.stats, rejected: this.source?.rejected?.() ?? {} });
      this.exitResolve(code);
      return code;
    });
    return this.stopping;
  }
}
