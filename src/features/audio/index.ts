/**
 * Audio: WAV clips (offline) or PCM messages (serve) become log-mel windows [nMels, frames]
 * (see src/config/audio.ts for the signal path); the manifest's `features` keeps the audio
 * settings, the band centres and the clip calibration.
 */
import type { AudioConfig } from '../../config/audio.js';
import type { TrainJobResult } from '../../jobs/train.js';
import type { Logger } from '../../util/log.js';
import type { TrainingFeaturizer, TrainRun } from '../featurizer.js';
import { audioFeaturesRecord, type AudioFeatures } from '../../config/audio.js';
import { bandCentresHz } from './features.js';
import { collectAudioWindows, coreConfigForAudio, runAudioTrainJob } from './train.js';

export class AudioFeaturizer implements TrainingFeaturizer {
  readonly kind = 'audio';
  readonly warmStart = false;
  readonly features: AudioFeatures;

  constructor(readonly config: Readonly<AudioConfig>) {
    this.features = audioFeaturesRecord(config.audio, bandCentresHz(config.audio));
  }

  collect(files: string[], log: Logger) {
    return collectAudioWindows(files, coreConfigForAudio(this.config), log);
  }

  train(run: TrainRun): Promise<TrainJobResult> {
    return runAudioTrainJob({ files: run.files, outDir: run.outDir, config: this.config, log: run.log, signal: run.signal, onProgress: run.onProgress });
  }

  describe(job: TrainJobResult, files: string[], outDir: string): string {
    const cal = job.manifest.calibration;
    const a = this.config.audio;
    return (
      `audio model ${job.manifest.modelVersion} written to ${outDir}: ${files.length} clip(s), windows [${a.nMels} mels x ${a.frames} frames], ` +
      `loudness ${a.loudness.mode}, ${job.trainWindows} training / ${job.valWindows} validation windows, ` +
      `${job.result.epochsRun} epochs (best ${job.result.bestEpoch}), threshold raw ${cal?.thresholdRaw.toPrecision(4)}`
    );
  }
}
