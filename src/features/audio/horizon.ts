/**
 * serve's per-device horizon statistics: after every scored window of a device, the clip
 * statistics (clip-stats.ts) over its last `horizonWindows` windows, attached to the score
 * event. A device's windows are scored in order, so the horizon after its n-th window
 * (n ≤ horizonWindows) pools exactly the windows `score` pools for a clip of the same n
 * windows: the numbers agree with the offline clip statistics.
 *
 * Memory: O(horizonWindows · nMels) per device, at most `maxStreams` devices (the least
 * recently scored is forgotten first). A new model version starts every horizon afresh:
 * statistics of two models' residuals are not pooled together.
 */
import type { Window } from '../../ingest/types.js';
import type { Calibration } from '../../model/artifact.js';
import { toScoreEvent, type Detector } from '../../scoring/detector.js';
import type { PooledScore, ScoreEvent, WindowScore } from '../../scoring/types.js';
import { HorizonPool, clipCalibrationFrom, windowContribution, type ClipCalibration, type ClipStatistics } from './clip-stats.js';
import type { AudioSettings } from '../../config/audio.js';

/** The event form of clip statistics (rounded for JSON). */
export function pooledScore(st: ClipStatistics, channelNames: string[]): PooledScore {
  const r = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(4)) : v);
  return {
    windows: st.windows,
    levelDb: r(st.values.level),
    z: Object.fromEntries(Object.entries(st.z).map(([k, v]) => [k, r(v)])),
    score: Number(st.combinedScore.toFixed(6)),
    anomaly: st.anomaly,
    top: st.top,
    topChannels: st.topShiftBands.map((m) => channelNames[m] ?? `c${m}`),
  };
}

export class HorizonTracker {
  private readonly pools = new Map<string, HorizonPool>();

  constructor(
    readonly settings: AudioSettings,
    readonly clipCalibration: ClipCalibration,
    readonly windowCalibration: Calibration | null,
    readonly modelVersion: string,
    private readonly maxStreams = 10_000,
  ) {}

  /**
   * Adds each window to its device's horizon and sets `event.horizon`. Once the horizon is
   * full its decision is ORed into `event.anomaly` (so alerts fire on a louder machine or a
   * steady spectral change); a partly filled horizon is reported but does not flag, as it
   * pools fewer windows than a full one.
   */
  annotate(windows: Window[], results: WindowScore[], events: ScoreEvent[], channelNames: string[]): void {
    const a = this.settings;
    windows.forEach((w, i) => {
      let pool = this.pools.get(w.stream);
      if (pool) this.pools.delete(w.stream);
      else pool = new HorizonPool(a.horizonWindows);
      this.pools.set(w.stream, pool); // most recently used last
      if (this.pools.size > this.maxStreams) this.pools.delete(this.pools.keys().next().value as string);
      pool.push(windowContribution(w.data, a.nMels, a.frames, w.levelDb ?? Number.NaN, results[i].raw, results[i].channelResiduals));
      const h = pooledScore(pool.statistics(this.clipCalibration, this.windowCalibration), channelNames);
      events[i].horizon = h;
      if (h.anomaly && pool.size === pool.capacity) events[i].anomaly = true;
    });
  }

  forget(stream: string): void {
    this.pools.delete(stream);
  }

  get streams(): number {
    return this.pools.size;
  }
}

/**
 * Scores a batch of audio windows into events with horizon statistics; follows model
 * reloads (a new model version gets fresh horizons; a model without a clip calibration
 * gets none).
 */
export class AudioEventScorer {
  private tracker: HorizonTracker | null = null;

  constructor(
    readonly settings: AudioSettings,
    private readonly maxStreams = 10_000,
  ) {}

  async scoreEvents(det: Detector, windows: Window[]): Promise<ScoreEvent[]> {
    const results = await det.score(windows);
    const events = results.map((r, i) => toScoreEvent(windows[i], r, det.channelNames, det.threshold, det.version));
    if (!this.tracker || this.tracker.modelVersion !== det.version) {
      const cal = clipCalibrationFrom(det.model.manifest.features);
      this.tracker = cal ? new HorizonTracker(this.settings, cal, det.model.manifest.calibration ?? null, det.version, this.maxStreams) : null;
    }
    this.tracker?.annotate(windows, results, events, det.channelNames);
    return events;
  }

  forget(stream: string): void {
    this.tracker?.forget(stream);
  }
}
