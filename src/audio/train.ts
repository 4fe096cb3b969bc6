/**
 * Training on WAV files: log-mel windows (see config.ts) → the core train job.
 * Bounded memory: files are read in chunks, windows kept by reservoir sampling up to
 * train.maxWindows, the per-band normaliser is fitted on the kept windows.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Window } from '../ingest/types.js';
import { ONNX_FILE, writeModelDir } from '../model/artifact.js';
import { Detector } from '../scoring/detector.js';
import { NormaliserFitter } from '../ingest/normaliser.js';
import { WindowReservoir, runTrainJob, type CollectedWindows, type TrainJobResult } from '../pipeline/train.js';
import type { TrainProgress } from '../model/trainer.js';
import { InputError, TrainingError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { fitClipCalibration, windowContribution, type ClipCalibration, type WindowContribution } from './clip-stats.js';
import { audioFeaturesRecord, type AudioConfig } from './config.js';
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
 * The held-out validation windows of each source, as `splitTrainValidation` picks them (the
 * newest `fraction` of each source's windows), cut so there are at least `minSegments`
 * reference segments: one per training clip, or contiguous parts of each when there are
 * fewer clips.
 */
export function referenceSegments(bySource: Window[][], fraction: number, minSegments = 3): Window[][] {
  const tails = bySource.filter((ws) => ws.length >= 2).map((ws) => ws.slice(ws.length - Math.max(1, Math.round(ws.length * fraction))));
  const parts = Math.max(1, Math.ceil(minSegments / Math.max(1, tails.length)));
  const out: Window[][] = [];
  for (const t of tails) {
    const size = Math.ceil(t.length / parts);
    for (let i = 0; i < t.length; i += size) out.push(t.slice(i, i + size));
  }
  return out;
}

/**
 * Clip calibration (clip-stats.ts) of a trained model: its held-out validation windows
 * scored through ORT exactly as `score` scores, pooled per reference segment.
 */
export async function fitAudioClipCalibration(
  modelDir: string,
  collected: CollectedWindows,
  config: AudioConfig,
  log: Logger,
): Promise<ClipCalibration> {
  const a = config.audio;
  const segments = referenceSegments(collected.bySource, config.train.validationSplit);
  const det = await Detector.open(modelDir, { provider: 'cpu', intraOpThreads: config.runtime.intraOpThreads }, log);
  try {
    const contributions: WindowContribution[][] = [];
    for (const seg of segments) {
      const rs = await det.scorer.scoreRaw(seg);
      contributions.push(rs.map((r, i) => windowContribution(seg[i].data, a.nMels, a.frames, seg[i].levelDb ?? Number.NaN, r.raw, r.channelResiduals)));
    }
    if (contributions.length < 3)
      throw new TrainingError(`too little held-out audio for the clip calibration: ${contributions.length} reference segment(s), need 3`);
    return fitClipCalibration(contributions, { use: a.clipScores, falseAlarmRate: config.calibration.targetFalseAlarmRate });
  } finally {
    await det.close();
  }
}

/** Trains an audio model; the manifest's `features` keeps the audio settings (and the clip calibration) for `score`. */
export async function runAudioTrainJob(opts: AudioTrainJobOptions): Promise<TrainJobResult> {
  const config = coreConfigForAudio(opts.config);
  const collected = await collectAudioWindows(opts.files, config, opts.log);
  const features = audioFeaturesRecord(config.audio, bandCentresHz(config.audio));
  const job = await runTrainJob({
    files: opts.files,
    outDir: opts.outDir,
    config,
    log: opts.log,
    signal: opts.signal,
    onProgress: opts.onProgress,
    collected,
    features: features as unknown as Record<string, unknown>,
  });
  const clipCalibration = await fitAudioClipCalibration(opts.outDir, collected, config, opts.log);
  const manifest = { ...job.manifest, features: { ...features, clipCalibration } };
  await writeModelDir(opts.outDir, new Uint8Array(await readFile(path.join(opts.outDir, ONNX_FILE))), manifest);
  opts.log.info('clip calibration', { segments: clipCalibration.segments, windowsPerSegment: clipCalibration.windowsPerSegment, use: clipCalibration.use });
  return { ...job, manifest };
}
