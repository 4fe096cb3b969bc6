import { parseArgs } from 'node:util';
import { trainingFeaturizer } from '../../features/index.js';
import { UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { expandPaths } from '../glob.js';
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
  const epochs = values.epochs ? parsePositiveInt(values.epochs, '--epochs') : undefined;
  const seed = values.seed ? parsePositiveInt(values.seed, '--seed') : undefined;
  const files = await expandPaths(patterns);
  const featurizer = await trainingFeaturizer(files, values.config, { epochs, seed });
  if (values.init && !featurizer.warmStart) throw new UsageError(`--init is not supported for ${featurizer.kind} models yet`);

  const job = await runInterruptibleTraining(log, (signal, onProgress) =>
    featurizer.train({
      files,
      outDir,
      log,
      signal,
      onProgress,
      init: values.init ? { dir: values.init, refitNormaliser: values['refit-normaliser'] ?? false } : undefined,
    }),
  );
  process.stderr.write(featurizer.describe(job, files, outDir) + '\n');
  return job.result.interrupted ? 130 : 0;
}

export function parsePositiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a non-negative integer, got "${v}"`);
  return n;
}
