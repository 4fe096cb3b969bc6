import type { Weights } from './denoiser.js';

/**
 * One training batch, in model space: B clean windows `x0` [B, C, W] back to back, their
 * timesteps `t`, the noising coefficients sa = sqrt(abar_t), sb = sqrt(1 - abar_t), the
 * noise `eps` [B, C, W] and per-window loss weights `w`.
 */
export interface TrainBatch {
  n: number;
  x0: Float32Array;
  t: Float32Array;
  sa: Float32Array;
  sb: Float32Array;
  eps: Float32Array;
  w: Float32Array;
}

/** The per-step scalars of AdamW with bias correction and the weight EMA. */
export interface StepScalars {
  /** lr / (1 - beta1^k) */
  stepSize: number;
  /** 1 / (1 - beta2^k) */
  vScale: number;
  /** 1 - lr * weightDecay (applied to matrices only). */
  decayKeep: number;
  /** ema <- decay * ema + (1 - decay) * theta */
  emaDecay: number;
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * What a training backend does; the training loop (trainer.ts) is shared, so both
 * backends run the same algorithm: clipped AdamW with bias correction and an EMA of the
 * weights, which is what validation sees and what is exported.
 */
export interface TrainEngine {
  /** e.g. "ort cpu, 2 threads" or "tfjs wasm". */
  readonly description: string;
  step(batch: TrainBatch, scalars: StepScalars): Promise<StepResult>;
  /** Per-window loss of the EMA weights (unweighted). */
  evalLosses(batch: TrainBatch): Promise<Float32Array>;
  /** The EMA weights, a copy. */
  emaWeights(): Promise<Weights>;
  release(): Promise<void>;
}

export function stepScalars(
  k: number,
  lr: number,
  opt: { beta1: number; beta2: number; weightDecay: number; emaDecay: number },
): StepScalars {
  return {
    stepSize: lr / (1 - opt.beta1 ** k),
    vScale: 1 / (1 - opt.beta2 ** k),
    decayKeep: 1 - lr * opt.weightDecay,
    // Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the
    // average follows the weights closely, so short runs are not dominated by the init.
    emaDecay: Math.min(opt.emaDecay, (1 + k) / (10 + k)),
  };
}
