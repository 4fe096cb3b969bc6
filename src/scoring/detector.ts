import type { ScoringConfig } from '../config/core.js';
import type { Window } from '../ingest/types.js';
import { loadModel, type LoadedModel } from '../model/artifact.js';
import type { RuntimeOptions } from '../model/runtime.js';
import type { Logger } from '../util/log.js';
import { DiffusionScorer } from './scorer.js';
import type { ScoreEvent, WindowScore } from './types.js';

/**
 * A loaded model with its scorer: what `score`, `serve` and `evaluate` call. Scoring
 * settings default to the model's own (noisefloor.json) and may be overridden.
 */
export class Detector {
  readonly scorer: DiffusionScorer;

  constructor(
    readonly model: LoadedModel,
    scoringOverrides: Partial<ScoringConfig> = {},
  ) {
    const params: ScoringConfig = { ...model.manifest.scoring, ...scoringOverrides };
    this.scorer = new DiffusionScorer(model, params, model.manifest.calibration);
  }

  static async open(dir: string, runtime: RuntimeOptions, log: Logger, scoring: Partial<ScoringConfig> = {}): Promise<Detector> {
    const det = new Detector(await loadModel(dir, runtime, log), scoring);
    // Build the recipe graph now, not on the first batch.
    const recipe = await det.scorer.prepare();
    if (det.scorer.recipeFallbackReason) log.warn('recipe graph unavailable; scoring step by step', { dir, reason: det.scorer.recipeFallbackReason.slice(0, 300) });
    else log.debug('scoring path', { dir, path: recipe ? 'recipe graph' : 'step by step' });
    return det;
  }

  get version(): string {
    return this.model.version;
  }

  get channelNames(): string[] {
    return this.model.manifest.channels;
  }

  /** Calibrated-scale threshold (NaN for an uncalibrated model). */
  get threshold(): number {
    return this.model.manifest.calibration?.threshold ?? Number.NaN;
  }

  score(windows: Window[]): Promise<WindowScore[]> {
    return this.scorer.score(windows);
  }

  /** Scores and wraps each result with its window's identity, for sinks and outputs. */
  async scoreEvents(windows: Window[]): Promise<ScoreEvent[]> {
    const results = await this.score(windows);
    return results.map((r, i) => toScoreEvent(windows[i], r, this.channelNames, this.threshold, this.version));
  }

  async close(): Promise<void> {
    await this.model.runtime.release();
  }
}

export function toScoreEvent(w: Window, r: WindowScore, channelNames: string[], threshold: number, modelVersion: string): ScoreEvent {
  const order = Array.from(r.channelErrors, (e, c) => [e, c] as const).sort((a, b) => b[0] - a[0]);
  const ev: ScoreEvent = {
    stream: w.stream,
    start: w.start,
    end: w.end,
    raw: r.raw,
    score: r.score,
    threshold,
    anomaly: r.anomaly,
    topChannels: order.slice(0, 3).map(([, c]) => channelNames[c] ?? `c${c}`),
    channelErrors: Array.from(r.channelErrors),
    modelVersion,
  };
  if (Number.isFinite(r.surprise)) ev.surprise = r.surprise;
  if (w.startTs !== undefined) ev.startTs = w.startTs;
  if (w.endTs !== undefined) ev.endTs = w.endTs;
  return ev;
}
