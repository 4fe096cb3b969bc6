/**
 * Clip scoring: a WAV file → windows → the detector → one clip score.
 *
 * Per clip: `raw` is the aggregation (mean, max or top-k mean, see config.ts) of the
 * windows' raw scores; `score` is that raw value on the model's calibrated scale (the
 * calibration was fitted on held-out normal windows, so for `mean` it is conservative);
 * `anomaly` is raw ≥ the calibrated window threshold. The explanation: `bandErrors`
 * (mean per-mel-band error over the clip's windows) and `frameErrors` (per log-mel frame,
 * the mean over the windows covering it of the scorer's per-time-step error; NaN for the
 * last few frames no window covers).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Window } from '../../ingest/types.js';
import type { Detector } from '../../scoring/detector.js';
import { calibratedScore } from '../../scoring/calibration.js';
import { InputError, ModelLoadError } from '../../util/errors.js';
import { audioSettingsFromFeatures, type AggregationMethod, type AudioSettings } from '../../config/audio.js';
import { clipCalibrationFrom, clipStatistics, windowContribution, type ClipStatistics, type WindowContribution } from './clip-stats.js';
import { fileWindows, type FileFeatureStats } from './features.js';

export interface ClipScore {
  file: string;
  windows: number;
  frames: number;
  durationSeconds: number;
  /** RMS level of the (resampled) clip, dB FS: the trivial loudness baseline's score. */
  levelDb: number;
  /** Aggregated raw window score. */
  raw: number;
  /** Calibrated clip score (0..1), NaN for an uncalibrated model. */
  score: number;
  maxRaw: number;
  maxScore: number;
  anomaly: boolean;
  anomalousWindows: number;
  /** Per mel band (length nMels) and per frame (length frames). */
  bandErrors: Float32Array;
  frameErrors: Float32Array;
  topBand: number;
  topFrame: number;
  /** Raw score of every window, in time order (start frame = i·hopFrames). */
  windowRaws: Float32Array;
  /**
   * Clip statistics (clip-stats.ts) when the model has a clip calibration: then `score` is
   * the combined score and `anomaly` the combined decision. Null for older models.
   */
  stats: ClipStatistics | null;
  /** What the clip is ranked by: stats.combinedZ, else `raw`. */
  rank: number;
}

export function aggregateScores(values: ArrayLike<number>, method: AggregationMethod, topkFraction = 0.1): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  if (method === 'max') {
    let m = -Infinity;
    for (let i = 0; i < n; i++) if (values[i] > m) m = values[i];
    return m;
  }
  if (method === 'mean') {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[i];
    return s / n;
  }
  const k = Math.max(1, Math.ceil(topkFraction * n));
  const sorted = Float64Array.from(values).sort();
  let s = 0;
  for (let i = n - k; i < n; i++) s += sorted[i];
  return s / k;
}

/** The audio settings an audio model was trained with (ModelLoadError for other models). */
export function audioSettingsOf(detector: Detector): AudioSettings {
  const a = audioSettingsFromFeatures(detector.model.manifest.features);
  if (!a) throw new ModelLoadError(`${detector.model.dir} is not an audio model (its manifest has no audio features)`);
  return a;
}

export interface ScoreClipOptions {
  aggregation?: AggregationMethod;
  topkFraction?: number;
  /** Windows per detector call (default 256). */
  batchSize?: number;
  /** Audio settings; default the model's. */
  settings?: AudioSettings;
  /** Gain applied to the samples before anything else, dB (level equalisation experiments). */
  gainDb?: number;
}

export async function scoreClip(file: string, detector: Detector, opts: ScoreClipOptions = {}): Promise<ClipScore> {
  const a = opts.settings ?? audioSettingsOf(detector);
  const aggregation = opts.aggregation ?? a.aggregation;
  const topk = opts.topkFraction ?? a.topkFraction;
  const batchSize = opts.batchSize ?? 256;
  const W = a.frames;
  const bandSum = new Float64Array(a.nMels);
  const frameSum: number[] = [];
  const frameCount: number[] = [];
  const raws: number[] = [];
  const contributions: WindowContribution[] = [];
  let maxScore = 0;
  let anomalous = 0;
  let pending: Window[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const rs = await detector.score(batch);
    rs.forEach((r, i) => {
      const w = batch[i];
      raws.push(r.raw);
      contributions.push(windowContribution(w.data, a.nMels, W, w.levelDb ?? Number.NaN, r.raw, r.channelResiduals));
      if (r.anomaly) anomalous++;
      if (r.score > maxScore) maxScore = r.score;
      for (let m = 0; m < a.nMels; m++) bandSum[m] += r.channelErrors[m];
      for (let j = 0; j < W; j++) {
        const f = w.start + j;
        while (frameSum.length <= f) {
          frameSum.push(0);
          frameCount.push(0);
        }
        frameSum[f] += r.timeErrors[j];
        frameCount[f]++;
      }
    });
  };
  const stats: Partial<FileFeatureStats> = {};
  for await (const ws of fileWindows(file, a, { stream: path.basename(file), stats, gainDb: opts.gainDb })) {
    pending.push(...ws);
    if (pending.length >= batchSize) await flush();
  }
  await flush();
  const n = raws.length;
  const bandErrors = Float32Array.from(bandSum, (s) => s / n);
  const frames = stats.frames ?? frameSum.length;
  const frameErrors = new Float32Array(frames).fill(Number.NaN);
  for (let f = 0; f < frameSum.length; f++) if (frameCount[f] > 0) frameErrors[f] = frameSum[f] / frameCount[f];
  const raw = aggregateScores(raws, aggregation, topk);
  const cal = detector.model.manifest.calibration;
  const clipCal = clipCalibrationFrom(detector.model.manifest.features);
  const clipStats = clipCal ? clipStatistics(contributions, clipCal, cal ?? null) : null;
  let topBand = 0;
  for (let m = 1; m < a.nMels; m++) if (bandErrors[m] > bandErrors[topBand]) topBand = m;
  let topFrame = 0;
  for (let f = 1; f < frames; f++) if (frameErrors[f] > frameErrors[topFrame] || Number.isNaN(frameErrors[topFrame])) topFrame = f;
  return {
    file,
    windows: n,
    frames,
    durationSeconds: stats.durationSeconds ?? 0,
    levelDb: stats.levelDb ?? Number.NaN,
    raw,
    score: clipStats ? clipStats.combinedScore : cal ? calibratedScore(cal, raw) : Number.NaN,
    maxRaw: Math.max(...raws),
    maxScore,
    anomaly: clipStats ? clipStats.anomaly : cal ? raw >= cal.thresholdRaw : false,
    anomalousWindows: anomalous,
    bandErrors,
    frameErrors,
    topBand,
    topFrame,
    windowRaws: Float32Array.from(raws),
    stats: clipStats,
    rank: clipStats ? clipStats.combinedZ : raw,
  };
}

// ------------------------------------------------------------------------------ labels

/** 1 for a path with an `abnormal`/`anomaly` folder, 0 for `normal`; undefined otherwise. */
export function labelFromPath(file: string): 0 | 1 | undefined {
  const parts = path.normalize(file).split(/[\\/]/).slice(0, -1).map((p) => p.toLowerCase());
  for (let i = parts.length - 1; i >= 0; i--) {
    if (parts[i] === 'abnormal' || parts[i] === 'anomaly' || parts[i] === 'anomalous') return 1;
    if (parts[i] === 'normal') return 0;
  }
  return undefined;
}

function parseLabel(v: string): 0 | 1 | undefined {
  const s = v.trim().toLowerCase();
  if (s === '1' || s === 'abnormal' || s === 'anomaly' || s === 'anomalous' || s === 'true') return 1;
  if (s === '0' || s === 'normal' || s === 'false') return 0;
  return undefined;
}

/**
 * Labels CSV `file,label` (optional header line `file,label`; label 0/1 or normal/abnormal). Looked up by
 * the path as given, then by the file's base name.
 */
export async function readLabelsCsv(file: string): Promise<Map<string, 0 | 1>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read labels: ${(e as Error).message}`, { file });
  }
  const out = new Map<string, 0 | 1>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const cut = line.lastIndexOf(',');
    if (cut < 0) throw new InputError('expected "file,label"', { file, line: i + 1 });
    const name = line.slice(0, cut).trim().replace(/^"(.*)"$/, '$1');
    const label = parseLabel(line.slice(cut + 1));
    if (label === undefined) {
      if (i === 0 && /^"?label"?$/i.test(line.slice(cut + 1).trim())) return; // header
      throw new InputError(`label "${line.slice(cut + 1).trim()}" is not 0/1 or normal/abnormal`, { file, line: i + 1 });
    }
    out.set(name, label);
  });
  return out;
}

export function lookupLabel(labels: Map<string, 0 | 1> | null, file: string): 0 | 1 | undefined {
  if (labels) return labels.get(file) ?? labels.get(path.normalize(file)) ?? labels.get(path.basename(file));
  return labelFromPath(file);
}
