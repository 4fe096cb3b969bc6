import { parseArgs } from 'node:util';
import { coreConfigSchema } from '../../config/core.js';
import { loadConfigFile } from '../../config/load.js';
import { runTrainJob } from '../../pipeline/train.js';
import { UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { expandPaths } from '../glob.js';
import { audioTrainCommand, isAudioTrain } from './audio.js';
import { runInterruptibleTraining } from '../interruptible.js';

export const TRAIN_USAGE = `noisefloor train --data <file|glob>... --out <model-dir> [--config <file>] [--epochs N] [--seed N]
                [--init <model-dir> [--refit-normaliser]]

Fits the diffusion denoiser on normal data (CSV, JSONL), exports model.onnx, calibrates
thresholds on held-out windows and writes a model directory. Ctrl-C stops training and
writes the model from the best weights so far (exit 130). Training runs on ONNX Runtime
(train.backend: ort, train.threads, train.provider) or TensorFlow.js (train.backend: tfjs).
--init continues from an existing model of the same spec and channels (fine-tuning on
new normal data); its normaliser is kept unless --refit-normaliser. WAV inputs, or a config with an
\`audio\` section, train an audio model on log-mel windows (config/audio.yaml, docs/audio.md).`;

export async function trainCommand(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      data: { type: 'string', multiple: true },
      out: { type: 'string' },
      config: { type: 'string' },
      epochs: { type: 'string' },
      seed: { type: 'string' },
      init: { type: 'string' },
      'refit-normaliser': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_USAGE + '\n');
    return 0;
  }
  const patterns = [...(values.data ?? []), ...positionals];
  if (patterns.length === 0) throw new UsageError('train needs --data <files>');
  const outDir = values.out;
  if (!outDir) throw new UsageError('train needs --out <model-dir>');
  if (values['refit-normaliser'] && !values.init) throw new UsageError('--refit-normaliser only applies with --init <model-dir>');
  if (await isAudioTrain(patterns, values.config)) {
    if (values.init) throw new UsageError('--init is not supported for audio models yet');
    return audioTrainCommand(argv, log);
  }
  const config = await loadConfigFile(coreConfigSchema, values.config);
  if (values.epochs) config.train.epochs = parsePositiveInt(values.epochs, '--epochs');
  if (values.seed) config.train.seed = parsePositiveInt(values.seed, '--seed');
  const files = await expandPaths(patterns);

  const job = await runInterruptibleTraining(log, (signal, onProgress) =>
    runTrainJob({
      files,
      outDir,
      config,
      log,
      signal,
      onProgress,
      init: values.init ? { dir: values.init, refitNormaliser: values['refit-normaliser'] ?? false } : undefined,
    }),
  );
  const cal = job.manifest.calibration;
  process.stderr.write(
    `model ${job.manifest.modelVersion} written to ${outDir}: ${job.trainWindows} training / ${job.valWindows} validation windows, ` +
      `${job.result.epochsRun} epochs (best ${job.result.bestEpoch}), val loss ${Math.min(...job.result.valLoss).toFixed(4)}, ` +
      `threshold raw ${cal?.thresholdRaw.toPrecision(4)} for false-alarm rate ${cal?.targetFalseAlarmRate}\n` +
      `channels: ${job.manifest.channels.join(', ')}` +
      (job.manifest.input?.excluded?.length ? `; left out: ${job.manifest.input.excluded.map((e) => `${e.column} (${e.reason})`).join(', ')}` : '') +
      '\n',
  );
  return job.result.interrupted ? 130 : 0;
}

export function parsePositiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a non-negative integer, got "${v}"`);
  return n;
}
