/**
 * The daemon's model: loaded at start-up, reloaded on SIGHUP or when the model directory
 * changes (fs.watch on its parent, since `train` replaces the directory by rename, with a
 * debounce). A new model is loaded and checked beside the old one and swapped in between
 * two batches; on any failure (unreadable, corrupt, different window shape) the old model
 * stays and the error is logged. Also: the tiny start-up model of the embedded default.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NoisefloorMetrics } from './metrics.js';
import type { BootstrapConfig, DaemonConfig } from '../config/daemon.js';
import { coreConfigSchema } from '../config/core.js';
import { generateSeries, seriesToCsv } from '../ingest/synthetic.js';
import { runTrainJob } from '../jobs/train.js';
import { Detector } from '../scoring/detector.js';
import { ModelLoadError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export class ModelManager {
  private pending: Detector | null = null;
  private watchers: FSWatcher[] = [];
  /** Watcher of the model directory itself (re-armed after the directory was replaced). */
  private inner: FSWatcher | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private reloading: Promise<boolean> | null = null;
  lastReloadError: string | null = null;

  private constructor(
    private current: Detector,
    readonly dir: string,
    private readonly cfg: DaemonConfig['model'],
    private readonly log: Logger,
    private readonly metrics?: NoisefloorMetrics,
  ) {
    this.publish(current);
  }

  static async open(dir: string, cfg: DaemonConfig['model'], log: Logger, metrics?: NoisefloorMetrics): Promise<ModelManager> {
    const det = await Detector.open(dir, { provider: cfg.provider, intraOpThreads: cfg.intraOpThreads }, log, cfg.scoring);
    metrics?.modelReloaded(true);
    log.info('model loaded', { dir, version: det.version, channels: det.channelNames, window: det.model.manifest.window, threshold: det.threshold });
    return new ModelManager(det, dir, cfg, log, metrics);
  }

  /** The model to score the next batch with; swaps in a reloaded model (call between batches). */
  detector(): Detector {
    if (this.pending) {
      const old = this.current;
      this.current = this.pending;
      this.pending = null;
      this.publish(this.current);
      this.log.info('model swapped', { from: old.version, to: this.current.version });
      old.close().catch((e: unknown) => this.log.warn('closing the old model failed', { err: e }));
    }
    return this.current;
  }

  get version(): string {
    return this.current.version;
  }

  private publish(d: Detector): void {
    this.metrics?.setModelInfo({
      version: d.version,
      provider: this.cfg.provider,
      window: d.model.manifest.window.length,
      trainedAt: d.model.manifest.createdAt,
    });
  }

  /** Loads the directory again; true when a new model is staged for the next batch. */
  reload(reason: string): Promise<boolean> {
    // One reload at a time; a request during one runs after it (the directory may have changed again).
    const run = async (): Promise<boolean> => {
      let det: Detector;
      try {
        det = await Detector.open(this.dir, { provider: this.cfg.provider, intraOpThreads: this.cfg.intraOpThreads }, this.log, this.cfg.scoring);
      } catch (e) {
        this.fail(reason, e);
        return false;
      }
      const cur = this.pending ?? this.current;
      const a = cur.model.manifest;
      const b = det.model.manifest;
      // Feature settings (audio log-mel parameters) decide how windows are cut too.
      // (The audio clip calibration is fitted per training, like `calibration`: not a feature setting.)
      const settingsOf = (f: Record<string, unknown> | undefined) => JSON.stringify(f ? { ...f, clipCalibration: undefined } : null);
      const sameFeatures = settingsOf(a.features) === settingsOf(b.features);
      if (a.window.length !== b.window.length || a.window.hop !== b.window.hop || a.channels.length !== b.channels.length || !sameFeatures) {
        await det.close();
        this.fail(
          reason,
          new ModelLoadError(
            sameFeatures
              ? `new model has window ${b.window.length}/${b.window.hop} over ${b.channels.length} channels, the running one ${a.window.length}/${a.window.hop} over ${a.channels.length}; restart the daemon to change the window shape`
              : 'new model has other feature settings (audio log-mel parameters or input kind) than the running one; restart the daemon to change them',
          ),
        );
        return false;
      }
      if (det.version === cur.version) {
        await det.close();
        this.log.info('model unchanged', { reason, version: det.version });
        return false;
      }
      const stale = this.pending;
      this.pending = det;
      if (stale) await stale.close();
      this.lastReloadError = null;
      this.metrics?.modelReloaded(true);
      this.log.info('model reloaded; swapping before the next batch', { reason, version: det.version, previous: this.current.version });
      return true;
    };
    const p = (this.reloading ?? Promise.resolve(false)).then(run, run);
    this.reloading = p;
    return p;
  }

  private fail(reason: string, e: unknown): void {
    this.lastReloadError = (e as Error).message;
    this.metrics?.modelReloaded(false);
    this.log.error('model reload failed; keeping the loaded model', { reason, dir: this.dir, version: this.current.version, err: e });
  }

  /**
   * Reload when the directory (or its replacement by rename) changes. The parent is watched
   * for the replacement; the directory itself for files written in place. A watcher on a
   * directory follows its inode, so once `train` renamed a new directory into place the
   * inner watcher would only see the old, deleted one: it is re-armed on the current
   * directory whenever the debounce fires (and the directory has settled).
   */
  watch(): void {
    const abs = path.resolve(this.dir);
    const base = path.basename(abs);
    const trigger = () => {
      if (this.closed) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        armInner();
        void this.reload('model directory changed');
      }, this.cfg.reloadDebounceMs);
      this.timer.unref();
    };
    const armInner = () => {
      this.inner?.close();
      this.inner = null;
      if (this.closed) return;
      try {
        const inner = watch(abs, () => trigger());
        inner.on('error', () => undefined);
        inner.unref();
        this.inner = inner;
      } catch {
        /* no directory right now: the parent watcher re-arms once one appears */
      }
    };
    try {
      const w = watch(path.dirname(abs), (_ev, name) => {
        if (name === null || String(name) === base || String(name).startsWith(`${base}.`)) trigger();
      });
      w.on('error', (e) => this.log.warn('model directory watch failed', { err: e }));
      w.unref();
      this.watchers.push(w);
      armInner();
    } catch (e) {
      this.log.warn('cannot watch the model directory; reload with SIGHUP', { dir: abs, err: e });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.inner?.close();
    this.inner = null;
    if (this.timer) clearTimeout(this.timer);
    await this.reloading?.catch(() => undefined);
    if (this.pending) await this.pending.close();
    await this.current.close();
  }
}

/**
 * The embedded default's model: a tiny denoiser trained in seconds on synthetic normal
 * data (the generator's process) into a temp directory.
 */
export async function trainBootstrapModel(b: BootstrapConfig, log: Logger): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'noisefloor-serve-'));
  const streams = 3;
  const per = Math.ceil(b.rows / streams);
  const files: string[] = [];
  for (let s = 0; s < streams; s++) {
    const f = path.join(dir, `normal-${s}.csv`);
    await writeFile(f, seriesToCsv(generateSeries(per, { channels: b.channels, seed: b.seed + s, phase: s * 7 })));
    files.push(f);
  }
  const config = coreConfigSchema.parse({
    window: { length: b.window, hop: b.hop },
    model: { dim: 32, depth: 1, patch: Math.min(8, b.window), timeDim: 16, T: 50 },
    train: { epochs: b.epochs, stepsPerEpoch: b.stepsPerEpoch, batchSize: 32, seed: b.seed, stride: 2, backend: 'cpu' },
    scoring: { samples: 2, steps: 3, t0: 0.3 },
    calibration: { targetFalseAlarmRate: 0.005 },
  });
  const out = path.join(dir, 'model');
  log.info('no model configured: training a tiny start-up model on synthetic data', { dir: out, rows: per * streams, epochs: b.epochs });
  await runTrainJob({ files, outDir: out, config, log: log.child({ component: 'bootstrap' }) });
  return out;
}
