/**
 * Training on WAV files: log-mel windows (see config.ts) → the core train job.
 * Bounded memory: files are read in chunks, windows kept by reservoir sampling up to
 * train.maxWindows, the per-band normaliser is fitted on the kept windows.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Window } from '../../ingest/types.js';
import { ONNX_FILE, writeModelDir } from '../../model/artifact.js';
import { Detector } from '../../scoring/detector.js';
import { NormaliserFitter } from '../../ingest/normaliser.js';
import { WindowReservoir, runTrainJob, type CollectedWindows, type TrainJobResult } from '../../jobs/train.js';
import type { TrainProgress } from '../../model/trainer.js';
import { InputError, TrainingError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { fitClipCalibration, windowContribution, type ClipCalibration, type SpectralSegments, type WindowContribution } from './clip-stats.js';
import { audioFeaturesRecord, type AudioConfig } from '../../config/audio.js';
import { bandCentresHz, bandNames, fileWindows, type FileFeatureStats } from './features.js';

/** The core config with the window section set from the audio section. */
export function coreConfigForAudio(config: AudioConfig): AudioConfig {
  return { ...config, window: { length: config.audio.frames, hop: config.audio.hopFrames } };
}

export async function collectAudioWindows(files: string[], config: AudioConfig, log: Logger): Promise<CollectedWindows> {
  if (files.length === 0) throw new InputError('no input files');
  const a = config.audio;
  const reservoir = new WindowReservoir(config.train.maxWindows, config.train.seed);
  let frames = 0;
  const hash = createHash('sha256');
  for (let f = 0; f < files.length; f++) {
    const stats: Partial<FileFeatureStats> = {};
    let seq = 0;
    for await (const batch of fileWindows(files[f], a, { hopFrames: a.trainHopFrames, stream: path.basename(files[f]), stats })) {
      for (const w of batch) {
        // Hash the first frame of each window: identifies the features without keeping them.
        hash.update(new Uint8Array(w.data.buffer, w.data.byteOffset, Math.min(w.data.byteLength, 4 * a.nMels)));
        reservoir.add(f, seq++, w);
      }
    }
    frames += stats.frames ?? 0;
    log.debug('read training clip', { file: files[f], ...stats });
  }
  const bySource = reservoir.bySource(files.length);
  const fitter = new NormaliserFitter(a.nMels, 200_000, config.train.seed);
  const col = new Float64Array(a.nMels);
  const W = a.frames;
  for (const w of bySource.flat())
    for (let j = 0; j < W; j++) {
      for (let m = 0; m < a.nMels; m++) col[m] = w.data[m * W + j];
      fitter.add(col);
    }
  return { channels: bandNames(a), bySource, normalisation: fitter.fit(config.train.normalisation), records: frames, dataHash: hash.digest('hex') };
}

export interface AudioTrainJobOptions {
  files: string[];
  outDir: string;
  config: AudioConfig;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/**
 * Which training files are set aside for the clip calibration: `fraction` of them (at least
 * 3), evenly spaced through the list, when there are at least 6 files; none otherwise (the
 * calibration then falls back to the held-out tails of every training clip).
 */
export function calibrationFileIndices(n: number, fraction: number): number[] {
  if (fraction <= 0 || n < 6) return [];
  const c = Math.min(Math.floor(n / 2), Math.max(3, Math.round(fraction * n)));
  return Array.from({ length: c }, (_, i) => Math.floor(((i + 0.5) * n) / c));
}

/** Reference segments and the recording (index into the lists) each came from. */
export interface Segments<T = Window> {
  segments: T[][];
  groups: number[];
}

/** Cuts lists of windows into at least `minSegments` contiguous parts in all (each of >= minWindows windows where possible). */
export function cutSegments<T>(lists: T[][], minSegments: number, minWindows = 4): Segments<T> {
  const usable = lists.filter((ws) => ws.length > 0);
  const parts = Math.max(1, Math.ceil(minSegments / Math.max(1, usable.length)));
  const out: Segments<T> = { segments: [], groups: [] };
  usable.forEach((t, g) => {
    const size = Math.max(Math.min(minWindows, t.length), Math.ceil(t.length / parts));
    for (let i = 0; i < t.length; i += size) {
      out.segments.push(t.slice(i, i + size));
      out.groups.push(g);
    }
  });
  return out;
}

/**
 * Reference segments for the clip calibration when no clip was set aside: the held-out
 * validation windows of each source, as `splitTrainValidation` picks them (the newest
 * `fraction` of each source's windows). Weaker: the model was trained on the rest of the
 * same recordings, so recording-to-recording variation is underestimated.
 */
export function tailSegments(bySource: Window[][], fraction: number, minSegments = 3): Segments {
  return cutSegments(
    bySource.filter((ws) => ws.length >= 2).map((ws) => ws.slice(ws.length - Math.max(1, Math.round(ws.length * fraction)))),
    minSegments,
  );
}

/**
 * Clip calibration (clip-stats.ts) of a trained model from reference segments of normal
 * windows it never trained on, scored through ORT exactly as `score` scores.
 */
export async function fitAudioClipCalibration(
  modelDir: string,
  { segments, groups }: Segments,
  config: AudioConfig,
  log: Logger,
  spectral?: SpectralSegments,
): Promise<ClipCalibration> {
  const a = config.audio;
  if (segments.length < 3 || new Set(groups).size < 2)
    throw new TrainingError(`too little held-out audio for the clip calibration: ${segments.length} reference segment(s) from ${new Set(groups).size} recording(s), need 3 from 2`);
  const det = await Detector.open(modelDir, { provider: 'cpu', intraOpThreads: config.runtime.intraOpThreads }, log);
  try {
    const contributions: WindowContribution[][] = [];
    for (const seg of segments) {
      const rs = await det.scorer.scoreRaw(seg);
      contributions.push(rs.map((r, i) => windowContribution(seg[i].data, a.nMels, a.frames, seg[i].levelDb ?? Number.NaN, r.raw, r.channelResiduals)));
    }
    return fitClipCalibration(contributions, { use: a.clipScores, falseAlarmRate: config.calibration.targetFalseAlarmRate, groups, spectral });
  } finally {
    await det.close();
  }
}

/** All windows of a file at the scoring hop (what `score` pools for that clip). */
async function clipWindows(file: string, config: AudioConfig): Promise<Window[]> {
  const out: Window[] = [];
  for await (const ws of fileWindows(file, config.audio, { stream: path.basename(file) })) out.push(...ws);
  return out;
}

/** Reference segments wanted from the calibration clips (each clip cut into parts). */
const CALIBRATION_SEGMENTS = 12;

/** Parts each recording is cut into for the model-free statistics, and how many recordings at most. */
const SPECTRAL_PARTS = 4;
const SPECTRAL_MAX_FILES = 64;

/**
 * Reference segments for the model-free clip statistics (spectrum, bandMax, profile, knn,
 * level): every training file (at most SPECTRAL_MAX_FILES, evenly spaced), each cut into
 * SPECTRAL_PARTS parts at the scoring hop. Only the per-window pooled values are kept, not
 * the windows; the denoiser is not needed (raw 0, no residual).
 */
export async function spectralSegments(files: string[], config: AudioConfig): Promise<SpectralSegments> {
  const a = config.audio;
  const n = Math.min(files.length, SPECTRAL_MAX_FILES);
  const picked = Array.from({ length: n }, (_, i) => files[Math.floor((i * files.length) / n)]);
  const out: SpectralSegments = { segments: [], groups: [] };
  const none = new Float32Array(0);
  for (let g = 0; g < picked.length; g++) {
    const ws = await clipWindows(picked[g], config);
    const cs = ws.map((w) => windowContribution(w.data, a.nMels, a.frames, w.levelDb ?? Number.NaN, 0, none));
    for (const seg of cutSegments([cs], SPECTRAL_PARTS, 2).segments) {
      out.segments.push(seg);
      out.groups.push(g);
    }
  }
  return out;
}

/**
 * Trains an audio model; the manifest's `features` keeps the audio settings and the clip
 * calibration for `score`. With `audio.calibrationClips` > 0 and at least 6 files, that
 * share of the files (>= 3) is set aside: the denoiser never trains on them, and the clip
 * calibration pools their windows, so it sees recording-to-recording variation as new
 * recordings will show it.
 */
export async function runAudioTrainJob(opts: AudioTrainJobOptions): Promise<TrainJobResult> {
  const config = coreConfigForAudio(opts.config);
  const calIdx = calibrationFileIndices(opts.files.length, config.audio.calibrationClips);
  const calFiles = calIdx.map((i) => opts.files[i]);
  const trainFiles = opts.files.filter((_, i) => !calIdx.includes(i));
  const collected = await collectAudioWindows(trainFiles, config, opts.log);
  const features = audioFeaturesRecord(config.audio, bandCentresHz(config.audio));
  const job = await runTrainJob({
    files: trainFiles,
    outDir: opts.outDir,
    config,
    log: opts.log,
    signal: opts.signal,
    onProgress: opts.onProgress,
    collected,
    features,
  });
  const segments = calFiles.length
    ? cutSegments(await Promise.all(calFiles.map((f) => clipWindows(f, config))), CALIBRATION_SEGMENTS)
    : tailSegments(collected.bySource, config.train.validationSplit);
  const spectral = await spectralSegments(opts.files, config);
  const fitted = await fitAudioClipCalibration(opts.outDir, segments, config, opts.log, new Set(spectral.groups).size >= 2 ? spectral : undefined);
  const clipCalibration = { ...fitted, files: calFiles.map((f) => path.basename(f)), source: calFiles.length ? 'held-out clips' : 'validation tails' };
  const manifest = { ...job.manifest, features: { ...features, clipCalibration } };
  await writeModelDir(opts.outDir, new Uint8Array(await readFile(path.join(opts.outDir, ONNX_FILE))), manifest);
  opts.log.info('clip calibration', { source: clipCalibration.source, files: clipCalibration.files, segments: fitted.segments, windowsPerSegment: fitted.windowsPerSegment, use: fitted.use });
  return { ...job, manifest };
}
