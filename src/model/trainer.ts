import * as tf from '@tensorflow/tfjs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TrainConfig } from '../config/core.js';
import { TrainingError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Rng } from '../util/rng.js';
import { denoiserForward, initWeights, parameterShapes, type DenoiserSpec, type Weights } from './denoiser.js';
import type { NoiseSchedule } from './schedule.js';
import { tfOps, variablesToWeights, weightsToVariables } from './tf-graph.js';

/** Windows in model space, back to back: n windows of `size` = C * W values. */
export interface WindowSet {
  data: Float32Array;
  n: number;
  size: number;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  valLoss?: number;
  bestValLoss?: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export interface TrainResult {
  weights: Weights;
  bestEpoch: number;
  epochsRun: number;
  trainLoss: number[];
  valLoss: number[];
  stoppedEarly: boolean;
  interrupted: boolean;
  seconds: number;
}

export interface TrainOptions {
  spec: DenoiserSpec;
  schedule: NoiseSchedule;
  config: TrainConfig;
  log: Logger;
  /** Where the best weights so far are written after each improvement. */
  checkpointDir?: string;
  /** Aborting (Ctrl-C) ends training after the current step with the best weights so far. */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

const MAX_VALIDATION_WINDOWS = 512;

/** Forms x_t = sqrt(abar) x0 + sqrt(1 - abar) eps for a batch in plain arrays. */
function noisedBatch(
  set: WindowSet,
  indices: ArrayLike<number>,
  schedule: NoiseSchedule,
  tMax: number,
  rng: Rng,
): { xt: Float32Array; t: Float32Array; eps: Float32Array } {
  const B = indices.length;
  const S = set.size;
  const xt = new Float32Array(B * S);
  const eps = rng.fillNormal(new Float32Array(B * S));
  const t = new Float32Array(B);
  for (let b = 0; b < B; b++) {
    const step = rng.int(tMax);
    t[b] = step;
    const sa = Math.sqrt(schedule.alphaBar[step]);
    const sb = Math.sqrt(1 - schedule.alphaBar[step]);
    const src = indices[b] * S;
    for (let k = 0; k < S; k++) xt[b * S + k] = sa * set.data[src + k] + sb * eps[b * S + k];
  }
  return { xt, t, eps };
}

async function writeCheckpoint(dir: string, spec: DenoiserSpec, weights: Weights, epoch: number, valLoss: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const shapes = parameterShapes(spec);
  const total = shapes.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const [name] of shapes) {
    const w = weights.get(name)!;
    flat.set(w, off);
    off += w.length;
  }
  // Write then rename: an interrupted write never replaces the last good checkpoint.
  const bin = path.join(dir, 'weights.bin');
  const meta = path.join(dir, 'checkpoint.json');
  await writeFile(bin + '.tmp', new Uint8Array(flat.buffer));
  await writeFile(meta + '.tmp', JSON.stringify({ spec, epoch, valLoss, parameters: shapes }, null, 2));
  await rename(bin + '.tmp', bin);
  await rename(meta + '.tmp', meta);
}

/**
 * Fits eps_theta on normal windows with the DDPM objective (predict the added noise at a
 * uniformly drawn t < tMaxFraction * T), Adam, early stopping on a fixed validation set
 * (same t and noise every epoch, so its loss is comparable across epochs).
 */
export async function trainDenoiser(train: WindowSet, val: WindowSet, opts: TrainOptions): Promise<TrainResult> {
  const { spec, schedule, config, log } = opts;
  if (train.n < 1) throw new TrainingError('no training windows');
  if (val.n < 1) throw new TrainingError('no validation windows');
  const started = Date.now();
  const rng = new Rng(config.seed);
  const tMax = Math.max(1, Math.round(config.tMaxFraction * schedule.T));
  const vars = weightsToVariables(spec, initWeights(spec, config.seed));
  const varList = [...vars.values()];
  const optimizer = tf.train.adam(config.learningRate);
  const ops = tfOps(vars);
  const stepsPerEpoch = config.stepsPerEpoch ?? Math.max(1, Math.ceil(train.n / config.batchSize));
  const batch = Math.min(config.batchSize, train.n);

  const valRng = new Rng(config.seed + 1);
  const valCount = Math.min(val.n, MAX_VALIDATION_WINDOWS);
  const valIdx = Array.from({ length: valCount }, (_, i) => Math.floor((i * val.n) / valCount));
  const valBatch = noisedBatch(val, valIdx, schedule, tMax, valRng);

  const lossOf = (xt: tf.Tensor, t: tf.Tensor, eps: tf.Tensor) =>
    tf.mean(tf.square(tf.sub(denoiserForward(ops, spec, xt, t), eps))) as tf.Scalar;

  const validationLoss = (): number =>
    tf.tidy(() => {
      let sum = 0;
      const S = val.size;
      for (let i = 0; i < valCount; i += 256) {
        const n = Math.min(256, valCount - i);
        const loss = lossOf(
          tf.tensor(valBatch.xt.subarray(i * S, (i + n) * S), [n, spec.channels, spec.window]),
          tf.tensor(valBatch.t.subarray(i, i + n), [n]),
          tf.tensor(valBatch.eps.subarray(i * S, (i + n) * S), [n, spec.channels, spec.window]),
        );
        sum += loss.dataSync()[0] * n;
      }
      return sum / valCount;
    });

  const trainLoss: number[] = [];
  const valLoss: number[] = [];
  let best = Number.POSITIVE_INFINITY;
  let bestEpoch = 0;
  let bestWeights: Weights = await variablesToWeights(vars);
  let sinceBest = 0;
  let interrupted = false;
  let stoppedEarly = false;
  const order = new Uint32Array(train.n).map((_, i) => i);
  let cursor = train.n;

  try {
    epochs: for (let epoch = 1; epoch <= config.epochs; epoch++) {
      let epochLoss = 0;
      for (let step = 1; step <= stepsPerEpoch; step++) {
        if (opts.signal?.aborted) {
          interrupted = true;
          break epochs;
        }
        const idx = new Uint32Array(batch);
        for (let b = 0; b < batch; b++) {
          if (cursor >= train.n) {
            rng.shuffle(order);
            cursor = 0;
          }
          idx[b] = order[cursor++];
        }
        const nb = noisedBatch(train, idx, schedule, tMax, rng);
        const lossT = tf.tidy(() => {
          const xt = tf.tensor(nb.xt, [batch, spec.channels, spec.window]);
          const t = tf.tensor(nb.t, [batch]);
          const eps = tf.tensor(nb.eps, [batch, spec.channels, spec.window]);
          return optimizer.minimize(() => lossOf(xt, t, eps), true, varList)!;
        });
        const loss = (await lossT.data())[0];
        lossT.dispose();
        if (!Number.isFinite(loss)) throw new TrainingError(`training loss became ${loss} at epoch ${epoch} step ${step}; lower train.learningRate`);
        epochLoss += loss;
        const elapsed = (Date.now() - started) / 1000;
        const done = (epoch - 1) * stepsPerEpoch + step;
        opts.onProgress?.({
          epoch,
          epochs: config.epochs,
          step,
          stepsPerEpoch,
          loss: epochLoss / step,
          bestValLoss: Number.isFinite(best) ? best : undefined,
          elapsedSeconds: elapsed,
          etaSeconds: (elapsed / done) * (config.epochs * stepsPerEpoch - done),
        });
        // Let signal handlers and progress output run between steps.
        if (step % 8 === 0) await new Promise((r) => setImmediate(r));
      }
      const vl = validationLoss();
      trainLoss.push(epochLoss / stepsPerEpoch);
      valLoss.push(vl);
      const elapsed = (Date.now() - started) / 1000;
      opts.onProgress?.({
        epoch,
        epochs: config.epochs,
        step: stepsPerEpoch,
        stepsPerEpoch,
        loss: epochLoss / stepsPerEpoch,
        valLoss: vl,
        bestValLoss: Math.min(best, vl),
        elapsedSeconds: elapsed,
        etaSeconds: (elapsed / epoch) * (config.epochs - epoch),
      });
      log.debug('epoch', { epoch, loss: epochLoss / stepsPerEpoch, valLoss: vl });
      if (vl < best * (1 - 1e-4)) {
        best = vl;
        bestEpoch = epoch;
        sinceBest = 0;
        bestWeights = await variablesToWeights(vars);
        if (opts.checkpointDir) await writeCheckpoint(opts.checkpointDir, spec, bestWeights, epoch, vl);
      } else if (++sinceBest >= config.patience) {
        stoppedEarly = true;
        break;
      }
    }
  } finally {
    for (const v of varList) v.dispose();
    optimizer.dispose();
  }
  return {
    weights: bestWeights,
    bestEpoch,
    epochsRun: trainLoss.length,
    trainLoss,
    valLoss,
    stoppedEarly,
    interrupted,
    seconds: (Date.now() - started) / 1000,
  };
}
