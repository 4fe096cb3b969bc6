import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TrainConfig } from '../config/core.js';
import { TrainingError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Rng } from '../util/rng.js';
import { initWeights, parameterShapes, type DenoiserSpec, type Weights } from './denoiser.js';
import { OrtTrainEngine } from './ort-trainer.js';
import type { NoiseSchedule } from './schedule.js';
import { stepScalars, type TrainBatch, type TrainEngine } from './train-engine.js';
import type { OptimiserSettings } from './train-graph.js';

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
  /** The EMA weights of the best validation epoch (what is exported). */
  weights: Weights;
  bestEpoch: number;
  epochsRun: number;
  trainLoss: number[];
  valLoss: number[];
  stoppedEarly: boolean;
  interrupted: boolean;
  seconds: number;
  /** Gradient steps run. */
  steps: number;
  /** Which backend trained, e.g. "ort cpu, 2 threads". */
  engine: string;
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
  /** Start from these weights (warm start) instead of a fresh initialisation. */
  initialWeights?: Weights;
}

/** Adam's moment decays and epsilon (the usual values); the rest comes from the config. */
export function optimiserSettings(config: TrainConfig): OptimiserSettings & { emaDecay: number } {
  return { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, gradClip: config.gradClip, weightDecay: config.weightDecay, emaDecay: config.emaDecay };
}

/** The configured training backend, ready to step from `initial`. */
export async function createTrainEngine(spec: DenoiserSpec, initial: Weights, config: TrainConfig, log: Logger): Promise<TrainEngine> {
  const optimiser = optimiserSettings(config);
  if (config.backend === 'tfjs') {
    // Loaded only when asked for: the ONNX Runtime path never pays for TensorFlow.js.
    const [{ initTfBackend }, { TfTrainEngine }] = await Promise.all([import('./tf-backend.js'), import('./tf-trainer.js')]);
    const backend = await initTfBackend(log, config.tfjsBackend);
    return new TfTrainEngine(spec, initial, optimiser, `tfjs ${backend.name}`);
  }
  return OrtTrainEngine.create(spec, initial, { provider: config.provider, threads: config.threads, optimiser }, log);
}

const MAX_VALIDATION_WINDOWS = 512;
const VALIDATION_CHUNK = 256;

/**
 * Gathers a batch: clean windows, a uniform t < tMax per window and the noise, into
 * preallocated arrays (the noising itself happens in the training graph).
 */
export class BatchMaker {
  readonly batch: TrainBatch;

  constructor(
    private readonly schedule: NoiseSchedule,
    private readonly tMax: number,
    size: number,
    capacity: number,
  ) {
    this.batch = {
      n: capacity,
      x0: new Float32Array(capacity * size),
      t: new Float32Array(capacity),
      sa: new Float32Array(capacity),
      sb: new Float32Array(capacity),
      eps: new Float32Array(capacity * size),
      w: new Float32Array(capacity).fill(1),
    };
  }

  fill(set: WindowSet, indices: ArrayLike<number>, rng: Rng): TrainBatch {
    const b = this.batch;
    const S = set.size;
    // Noise first, then the timesteps: the order the random stream has always been drawn in.
    rng.fillNormal(b.eps);
    for (let i = 0; i < indices.length; i++) {
      const step = rng.int(this.tMax);
      b.t[i] = step;
      b.sa[i] = Math.sqrt(this.schedule.alphaBar[step]);
      b.sb[i] = Math.sqrt(1 - this.schedule.alphaBar[step]);
      b.x0.set(set.data.subarray(indices[i] * S, (indices[i] + 1) * S), i * S);
    }
    return b;
  }
}

/** A fixed validation set: the same t and noise every epoch, so its loss is comparable across epochs. */
function validationBatches(val: WindowSet, schedule: NoiseSchedule, tMax: number, seed: number): TrainBatch[] {
  const rng = new Rng(seed);
  const count = Math.min(val.n, MAX_VALIDATION_WINDOWS);
  const out: TrainBatch[] = [];
  for (let i = 0; i < count; i += VALIDATION_CHUNK) {
    const n = Math.min(VALIDATION_CHUNK, count - i);
    const idx = Array.from({ length: n }, (_, j) => Math.floor(((i + j) * val.n) / count));
    const maker = new BatchMaker(schedule, tMax, val.size, n);
    out.push(maker.fill(val, idx, rng));
  }
  return out;
}

async function validationLoss(engine: TrainEngine, batches: TrainBatch[]): Promise<number> {
  let sum = 0;
  let n = 0;
  for (const b of batches) {
    for (const l of await engine.evalLosses(b)) sum += l;
    n += b.n;
  }
  return sum / n;
}

export async function writeCheckpoint(dir: string, spec: DenoiserSpec, weights: Weights, epoch: number, valLoss: number): Promise<void> {
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
 * uniformly drawn t < tMaxFraction * T) by clipped AdamW, keeping an EMA of the weights;
 * early stopping on the EMA weights' loss on a fixed validation set. The backend
 * (ONNX Runtime or TensorFlow.js) only runs the steps; this loop is the same for both.
 */
export async function trainDenoiser(train: WindowSet, val: WindowSet, opts: TrainOptions): Promise<TrainResult> {
  const { spec, schedule, config, log } = opts;
  if (train.n < 1) throw new TrainingError('no training windows');
  if (val.n < 1) throw new TrainingError('no validation windows');
  const started = Date.now();
  const rng = new Rng(config.seed);
  const tMax = Math.max(1, Math.round(config.tMaxFraction * schedule.T));
  const optimiser = optimiserSettings(config);
  const initial = opts.initialWeights ?? initWeights(spec, config.seed);
  const engine = await createTrainEngine(spec, initial, config, log);
  const stepsPerEpoch = config.stepsPerEpoch ?? Math.max(1, Math.ceil(train.n / config.batchSize));
  const batch = Math.min(config.batchSize, train.n);
  const maker = new BatchMaker(schedule, tMax, train.size, batch);
  const valBatches = validationBatches(val, schedule, tMax, config.seed + 1);
  log.debug('trainer', { engine: engine.description, stepsPerEpoch, batch });

  const trainLoss: number[] = [];
  const valLoss: number[] = [];
  let best = Number.POSITIVE_INFINITY;
  let bestEpoch = 0;
  let bestWeights: Weights = initial;
  let sinceBest = 0;
  let interrupted = false;
  let stoppedEarly = false;
  let steps = 0;
  const order = new Uint32Array(train.n).map((_, i) => i);
  let cursor = train.n;
  const idx = new Uint32Array(batch);

  try {
    epochs: for (let epoch = 1; epoch <= config.epochs; epoch++) {
      let epochLoss = 0;
      for (let step = 1; step <= stepsPerEpoch; step++) {
        if (opts.signal?.aborted) {
          interrupted = true;
          break epochs;
        }
        for (let b = 0; b < batch; b++) {
          if (cursor >= train.n) {
            rng.shuffle(order);
            cursor = 0;
          }
          idx[b] = order[cursor++];
        }
        const k = steps + 1;
        const { loss, gradNorm } = await engine.step(maker.fill(train, idx, rng), stepScalars(k, config.learningRate, optimiser));
        if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
          const what = Number.isFinite(loss) ? `gradient norm became ${gradNorm}` : `loss became ${loss}`;
          const kept = opts.checkpointDir && bestEpoch > 0 ? `; the last good checkpoint (epoch ${bestEpoch}) is kept in ${opts.checkpointDir}` : '';
          throw new TrainingError(`training ${what} at step ${k} (epoch ${epoch}, step ${step} of ${stepsPerEpoch})${kept}; lower train.learningRate or check the input for extreme values`);
        }
        steps = k;
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
      const vl = await validationLoss(engine, valBatches);
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
      if (!Number.isFinite(vl)) {
        const kept = opts.checkpointDir && bestEpoch > 0 ? `; the last good checkpoint (epoch ${bestEpoch}) is kept in ${opts.checkpointDir}` : '';
        throw new TrainingError(`validation loss became ${vl} after epoch ${epoch} (step ${steps})${kept}; lower train.learningRate`);
      }
      if (vl < best * (1 - 1e-4)) {
        best = vl;
        bestEpoch = epoch;
        sinceBest = 0;
        bestWeights = await engine.emaWeights();
        if (opts.checkpointDir) await writeCheckpoint(opts.checkpointDir, spec, bestWeights, epoch, vl);
      } else if (++sinceBest >= config.patience) {
        stoppedEarly = true;
        break;
      }
    }
  } finally {
    await engine.release();
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
    steps,
    engine: engine.description,
  };
}
