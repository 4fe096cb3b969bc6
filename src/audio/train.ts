/**
 * Training on WAV files: log-mel windows (see config.ts) → the core train job.
 * Bounded memory: files are read in chunks, windows kept by reservoir sampling up to
 * train.maxWindows, the per-band normaliser is fitted on the kept windows.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { NormaliserFitter } from '../ingest/normaliser.js';
import { WindowReservoir, runTrainJob, type CollectedWindows, type TrainJobResult } from '../pipeline/train.js';
import type { TrainProgress } from '../model/trainer.js';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
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

/** Trains an audio model; the manifest's `features` keeps the audio settings for `score`. */
export async function runAudioTrainJob(opts: AudioTrainJobOptions): Promise<TrainJobResult> {
  const config = coreConfigForAudio(opts.config);
  const collected = await collectAudioWindows(opts.files, config, opts.log);
  const features = audioFeaturesRecord(config.audio, bandCentresHz(config.audio));
  return runTrainJob({
    files: opts.files,
    outDir: opts.outDir,
    config,
    log: opts.log,
    signal: opts.signal,
    onProgress: opts.onProgress,
    collected,
    features: features as unknown as Record<string, unknown>,
  });
}
