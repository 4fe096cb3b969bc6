/**
 * Time series: numeric columns of CSV / JSONL records (or decoded Kafka messages) are the
 * channels; windows of `window.length` steps every `window.hop` steps. The manifest keeps
 * how files were read (`input`), no `features` record.
 */
import type { CoreConfig } from '../../config/core.js';
import { collectWindows, runTrainJob, type TrainJobResult } from '../../jobs/train.js';
import type { Logger } from '../../util/log.js';
import type { TrainingFeaturizer, TrainRun } from '../featurizer.js';

export class TimeSeriesFeaturizer implements TrainingFeaturizer {
  readonly kind = 'timeseries';
  readonly features = undefined;
  readonly warmStart = true;

  constructor(readonly config: Readonly<CoreConfig>) {}

  collect(files: string[], log: Logger) {
    return collectWindows(files, this.config, log);
  }

  train(run: TrainRun): Promise<TrainJobResult> {
    return runTrainJob({ ...run, config: this.config });
  }

  describe(job: TrainJobResult, _files: string[], outDir: string): string {
    const cal = job.manifest.calibration;
    return (
      `model ${job.manifest.modelVersion} written to ${outDir}: ${job.trainWindows} training / ${job.valWindows} validation windows, ` +
      `${job.result.epochsRun} epochs (best ${job.result.bestEpoch}), val loss ${Math.min(...job.result.valLoss).toFixed(4)}, ` +
      `threshold raw ${cal?.thresholdRaw.toPrecision(4)} for false-alarm rate ${cal?.targetFalseAlarmRate}\n` +
      `channels: ${job.manifest.channels.join(', ')}` +
      (job.manifest.input?.excluded?.length ? `; left out: ${job.manifest.input.excluded.map((e) => `${e.column} (${e.reason})`).join(', ')}` : '')
    );
  }
}
