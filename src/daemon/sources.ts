/**
 * Sources that are not Kafka: a recorded file replayed at real time (or N times faster)
 * and the built-in generator. Both feed the same stream registry and batcher as the Kafka
 * source; offsets are row numbers (nothing is committed).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { FileSourceConfig, GeneratorSourceConfig } from '../config/daemon.js';
import { openSeries, uniqueStreamNames } from '../ingest/readers.js';
import type { InputManifest } from '../model/artifact.js';
import { readerSettings } from '../jobs/score.js';
import { ANOMALY_KINDS, SyntheticProcess, type AnomalyKind } from '../ingest/synthetic.js';
import type { NoisefloorMetrics } from './metrics.js';
import { InputLimitError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Rng } from '../util/rng.js';
import type { MicroBatcher } from './batcher.js';
import type { StreamRegistry, TrackedWindow } from './streams.js';

export interface SourceContext {
  registry: StreamRegistry;
  batcher: MicroBatcher<TrackedWindow>;
  log: Logger;
  metrics?: NoisefloorMetrics;
  /** Channel names of the model (files are read by these names). */
  channelNames: string[];
  /** How the model's training files were read (delimiter, header): file replay reads the same way. */
  modelInput?: InputManifest;
}

export interface Source {
  readonly kind: string;
  /** Begins reading; resolves when reading has started (Kafka: connected and subscribed). */
  start(): Promise<void>;
  /** Stops reading new input (windows already queued are still scored). */
  stop(): Promise<void>;
  /** Resolves when a finite source has read everything (never for Kafka or an endless generator). */
  readonly finished: Promise<void>;
  /** Commits what is done (Kafka), after the queue drained at shutdown. */
  commitNow?(): Promise<void>;
  /** Disconnects clients; last step of a shutdown. */
  close?(): Promise<void>;
  ready(): boolean;
  /** Reasons not to be ready besides ready() (e.g. commits failing for a while). */
  problems?(): string[];
  /** A batch of windows was scored and handed to every sink (commit cadence). */
  batchScored?(): void;
  /** Rejected inputs per reason (tests, summary). */
  rejected?(): Record<string, number>;
  /** Inputs that could not be read to the end (file replay): the daemon exits 2. */
  failures?(): string[];
}

/** Waits `ms`, or until `signal` aborts; resolves either way. */
async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

/** Pushes windows; waits while the queue is full (backpressure for in-process sources). */
async function enqueue(ctx: SourceContext, windows: TrackedWindow[], signal: AbortSignal, source: string): Promise<void> {
  for (const w of windows) ctx.batcher.push(w);
  if (ctx.batcher.full) ctx.metrics?.sourcePaused(source);
  while (ctx.batcher.full && !signal.aborted && !ctx.batcher.isClosed) await ctx.batcher.waitForSpace();
}

export class FileSource implements Source {
  readonly kind = 'file';
  readonly finished: Promise<void>;
  private resolveFinished!: () => void;
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;
  private names: string[] = [];
  private readonly failed: Error[] = [];

  constructor(
    private readonly cfg: FileSourceConfig,
    private readonly ctx: SourceContext,
  ) {
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  ready(): boolean {
    return true;
  }

  async start(): Promise<void> {
    // Open every file first, so a missing column fails start-up, not the replay. Each file
    // is one stream; files of one name get their folders in the stream name (valve1/0,
    // valve2/0), so two recordings never share a window ring.
    this.names = uniqueStreamNames(this.cfg.paths);
    for (let i = 0; i < this.cfg.paths.length; i++) await this.open(i);
    this.running = this.run().then(
      () => this.resolveFinished(),
      (e: unknown) => {
        this.failed.push(e instanceof Error ? e : new Error(String(e)));
        this.ctx.log.error('file replay failed', { err: e });
        this.resolveFinished();
      },
    );
  }

  private open(i: number) {
    return openSeries(this.cfg.paths[i], {
      ...readerSettings(this.ctx.modelInput, this.cfg.data),
      channels: this.cfg.data.channels ?? this.ctx.channelNames,
      stream: this.names[i],
      maxLineBytes: this.cfg.maxLineBytes,
      maxChannels: this.cfg.maxChannels,
    });
  }

  /** Files whose replay stopped at bad input; the daemon then exits 2 once the others finished. */
  failures(): string[] {
    return this.failed.map((f) => f.message);
  }

  private async run(): Promise<void> {
    const { speed, stepMs } = this.cfg;
    const signal = this.abort.signal;
    do {
      await Promise.all(
        this.cfg.paths.map(async (file, i) => {
          try {
            await this.replay(file, i, signal, speed, stepMs);
          } catch (e) {
            // One bad file must not end the others' replay: it stops at its bad row and
            // the daemon exits non-zero once everything else was replayed and scored.
            if (e instanceof InputLimitError) this.ctx.metrics?.inputLimitExceeded('file', e.limit);
            this.failed.push(e instanceof Error ? e : new Error(String(e)));
            this.ctx.log.error('file replay failed; the other files go on, exit code will be 2', { file, err: e });
          }
        }),
      );
    } while (this.cfg.loop && !signal.aborted && this.failed.length === 0);
  }

  private async replay(file: string, i: number, signal: AbortSignal, speed: number, stepMs: number): Promise<void> {
    const src = await this.open(i);
    const key = `file:${src.header.stream}`;
    this.ctx.registry.dropLane(key);
    const t0 = Date.now();
    let firstTs: number | undefined;
    for await (const rec of src.records()) {
      if (signal.aborted) return;
      if (speed > 0) {
        const ts = typeof rec.ts === 'number' ? rec.ts : undefined;
        firstTs ??= ts;
        const due = ts !== undefined && firstTs !== undefined ? (ts - firstTs) / speed : (rec.index * stepMs) / speed;
        const wait = t0 + due - Date.now();
        if (wait > 1) await sleep(wait, signal);
      }
      const res = this.ctx.registry.ingest(key, src.header.stream, rec.index, [rec.values], rec.ts, 0, Date.now());
      this.ctx.metrics?.messagesDecoded('file');
      if (res.kind === 'dropped') {
        this.ctx.metrics?.messagesRejected('file', 'max_streams');
        continue;
      }
      if (res.late) this.ctx.metrics?.messagesRejected('file', 'late');
      if (res.duplicate) this.ctx.metrics?.messagesRejected('file', 'duplicate');
      await enqueue(this.ctx, res.windows, signal, this.kind);
    }
    // End of the file: what the reorder buffer holds is complete.
    await enqueue(this.ctx, this.ctx.registry.flushLane(key), signal, this.kind);
    this.ctx.log.info('file replayed', { file, stream: src.header.stream });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}

interface GenStream {
  name: string;
  proc: SyntheticProcess;
  step: number;
  anomaly: { kind: AnomalyKind; channel: number; start: number; end: number } | null;
}

/**
 * Synthetic streams (the training process of the embedded default) at `rate` steps per
 * second each, with anomalies injected at random (logged when they start, so you can
 * watch them being flagged).
 */
export class GeneratorSource implements Source {
  readonly kind = 'generator';
  readonly finished: Promise<void>;
  private resolveFinished!: () => void;
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;
  private readonly streams: GenStream[];
  private readonly rng: Rng;
  private readonly startMs = Date.now();

  constructor(
    private readonly cfg: GeneratorSourceConfig,
    private readonly ctx: SourceContext,
  ) {
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.rng = new Rng(cfg.seed);
    const channels = ctx.channelNames.length;
    this.streams = Array.from({ length: cfg.streams }, (_, s) => ({
      name: `${cfg.prefix}${s}`,
      proc: new SyntheticProcess({ channels, period: cfg.period, noise: cfg.noise, seed: cfg.seed * 1000 + s, phase: s * 5 }),
      step: 0,
      anomaly: null,
    }));
  }

  ready(): boolean {
    return true;
  }

  async start(): Promise<void> {
    this.running = this.run().then(
      () => this.resolveFinished(),
      (e: unknown) => {
        this.ctx.log.error('generator failed', { err: e });
        this.resolveFinished();
      },
    );
  }

  /** Values of one step, with the stream's current anomaly applied. */
  private values(g: GenStream): Float64Array {
    const i = g.step;
    if (!g.anomaly && this.cfg.anomalyRate > 0 && this.rng.next() < this.cfg.anomalyRate / 1000) {
      const kind = ANOMALY_KINDS[Math.floor(this.rng.next() * ANOMALY_KINDS.length)];
      const len = kind === 'spike' ? 1 : 16 + Math.floor(this.rng.next() * 32);
      g.anomaly = { kind, channel: Math.floor(this.rng.next() * g.proc.channels), start: i, end: i + len - 1 };
      this.ctx.log.info('generator: injected anomaly', { stream: g.name, kind, channel: g.anomaly.channel, startStep: i, steps: len, ts: this.tsOf(i) });
    }
    const a = g.anomaly;
    const v = g.proc.step(i, new Float64Array(g.proc.channels), a?.kind === 'frequency' ? 2.3 : 1);
    if (a) {
      const c = a.channel;
      if (a.kind === 'spike' && i === a.start) v[c] += 6;
      else if (a.kind === 'level') v[c] += 2.5;
      else if (a.kind === 'flat') v[c] = g.proc.clean(c, a.start);
      else if (a.kind === 'decorrelate') v[c] = g.proc.clean(c, i + Math.round(g.proc.period * 0.37)) + g.proc.noiseSample();
      if (i >= a.end) g.anomaly = null;
    }
    g.step++;
    return v;
  }

  private tsOf(step: number): number {
    return this.startMs + Math.round((step * 1000) / this.cfg.rate);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const max = this.cfg.maxSteps ?? Infinity;
    const t0 = Date.now();
    while (!signal.aborted) {
      const due = Math.min(max, Math.floor(((Date.now() - t0) * this.cfg.rate) / 1000) + 1);
      let pushed = false;
      for (const g of this.streams) {
        while (g.step < due && !signal.aborted) {
          const step = g.step;
          const v = this.values(g);
          const res = this.ctx.registry.ingest('generator', g.name, step, [v], this.tsOf(step), 0, Date.now());
          this.ctx.metrics?.messagesDecoded('generator');
          pushed = true;
          if (res.kind === 'ok') await enqueue(this.ctx, res.windows, signal, this.kind);
          else this.ctx.metrics?.messagesRejected('generator', 'max_streams');
        }
      }
      if (this.streams.every((g) => g.step >= max)) return;
      if (!pushed || due < max) await sleep(Math.max(5, Math.min(100, 1000 / this.cfg.rate)), signal);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}
