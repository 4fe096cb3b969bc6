import { z } from 'zod';

/**
 * Settings shared by `train`, `score`, `serve` and `evaluate`: what a window is, the
 * model, training, scoring and runtime. Validated once (with defaults) at start-up and
 * then passed down as typed objects.
 */
export const dataSchema = z
  .object({
    /** Channels to read, by column/field name; default: every numeric column except label-like ones and `exclude`. */
    channels: z.array(z.string().min(1)).min(1).optional(),
    /** Columns never read as channels when `channels` is not given (label-like names are left out anyway). */
    exclude: z.array(z.string().min(1)).optional(),
    /** Timestamp column; default: auto-detect (timestamp, ts, time, datetime, date); null: none. */
    timestampColumn: z.string().min(1).nullable().optional(),
    format: z.enum(['csv', 'jsonl']).optional(),
    /** CSV delimiter; default: sniffed from the header (`,` `;` tab `|`). */
    delimiter: z.string().length(1).optional(),
    /** CSV header row; default: present unless the first line is all numbers (then columns are c0, c1, ...). */
    header: z.boolean().optional(),
  })
  .strict();

export const windowSchema = z
  .object({
    length: z.number().int().min(4).max(65536).default(64),
    hop: z.number().int().min(1).default(8),
  })
  .strict();

export const modelSchema = z
  .object({
    arch: z.enum(['mixer', 'mlp']).default('mixer'),
    patch: z.number().int().min(1).default(8),
    dim: z.number().int().min(4).default(64),
    depth: z.number().int().min(1).max(16).default(2),
    expansion: z.number().int().min(1).max(8).default(2),
    timeDim: z.number().int().min(2).default(32),
    /** Diffusion steps T. */
    T: z.number().int().min(10).max(4000).default(100),
    schedule: z.enum(['cosine', 'linear']).default('cosine'),
  })
  .strict();

/** Values `train.backend` took before the ONNX Runtime trainer: names of tfjs backends. */
const LEGACY_TFJS_BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Older configs named a tfjs backend in `train.backend`. `auto` and `cpu` now mean the
 * ONNX Runtime trainer (on CPU); the native/wasm tfjs names keep training with tfjs on
 * that backend.
 */
function upgradeLegacyTrainBackend(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  if (typeof r.backend !== 'string' || !LEGACY_TFJS_BACKENDS.includes(r.backend)) return raw;
  if (r.backend === 'auto' || r.backend === 'cpu') return { ...r, backend: 'ort' };
  return { ...r, backend: 'tfjs', tfjsBackend: r.tfjsBackend ?? r.backend };
}

const trainObjectSchema = z
  .object({
    epochs: z.number().int().min(1).default(40),
    batchSize: z.number().int().min(1).default(64),
    learningRate: z.number().positive().default(2e-3),
    /** Fraction of windows (the newest, contiguous) held out for validation and calibration. */
    validationSplit: z.number().min(0.05).max(0.5).default(0.2),
    /** Epochs without validation improvement before stopping. */
    patience: z.number().int().min(1).default(6),
    seed: z.number().int().default(42),
    /**
     * Steps between training windows. 1 (default) shows the model every phase of a
     * periodic signal; the scoring hop (window.hop) would show only a few.
     */
    stride: z.number().int().min(1).default(1),
    /** Cap on training windows (a deterministic subsample beyond it). */
    maxWindows: z.number().int().min(16).default(20000),
    /** Gradient steps per epoch; default: one pass over the training windows. */
    stepsPerEpoch: z.number().int().min(1).optional(),
    /** Training timesteps are drawn from [0, tMaxFraction * T): scoring never goes deeper. */
    tMaxFraction: z.number().min(0.05).max(1).default(0.6),
    /** ort: the training step as ONNX graphs run by ONNX Runtime; tfjs: TensorFlow.js. */
    backend: z.enum(['ort', 'tfjs']).default('ort'),
    /** tfjs backend when backend is tfjs; auto: tfjs-node-gpu, tfjs-node, wasm, cpu. */
    tfjsBackend: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /** ONNX Runtime provider for training; an unavailable GPU provider falls back to cpu. */
    provider: z.enum(['cpu', 'cuda', 'webgpu', 'auto']).default('cpu'),
    /** ONNX Runtime intra-op threads for training; 0: one per core. */
    threads: z.number().int().min(0).default(0),
    /** Global gradient-norm clip; 0 turns clipping off. */
    gradClip: z.number().min(0).default(1),
    /** AdamW decoupled weight decay on weight matrices. */
    weightDecay: z.number().min(0).max(1).default(0.01),
    /** Decay of the exponential moving average of the weights that is validated and exported. */
    emaDecay: z.number().min(0).lt(1).default(0.999),
    normalisation: z.enum(['robust', 'standard']).default('robust'),
  })
  .strict();

export const trainSchema = z.preprocess(upgradeLegacyTrainBackend, trainObjectSchema);

export const scoringSchema = z
  .object({
    /** reconstruction: noise to t0 and denoise back with DDIM; likelihood: denoising error at a few t. */
    mode: z.enum(['reconstruction', 'likelihood']).default('reconstruction'),
    /** Partial-noising depth t0 as a fraction of T. */
    t0: z.number().min(0.01).max(1).default(0.3),
    /** DDIM steps from t0 back to 0. */
    steps: z.number().int().min(1).max(100).default(5),
    /** Noise draws M per window. */
    samples: z.number().int().min(1).max(64).default(4),
    /** Timesteps (fractions of T) of the likelihood mode. */
    likelihoodTs: z.array(z.number().min(0).max(1)).min(1).default([0.05, 0.1, 0.2, 0.4]),
    /** Windows per ORT call (each expanded M times). */
    batchSize: z.number().int().min(1).default(128),
    /** Seed of the fixed noise bank: the same window always gets the same score. */
    seed: z.number().int().default(7),
  })
  .strict();

export const calibrationSchema = z
  .object({
    /** Fraction of normal windows allowed above the threshold. */
    targetFalseAlarmRate: z.number().gt(0).lt(0.5).default(0.001),
    /** Quantile of held-out scores where the generalised Pareto tail begins. */
    tailQuantile: z.number().min(0.5).max(0.995).default(0.9),
    /**
     * How the tail is fitted: ml (maximum likelihood, from 25 peaks on; PWM below) or pwm
     * (probability-weighted moments, the estimator before). ml keeps false-alarm rates near
     * small targets; pwm's heavier tails saturate surprises less (docs/evaluation.md,
     * "Calibration tail").
     */
    tailFit: z.enum(['ml', 'pwm']).default('ml'),
  })
  .strict();

/**
 * The per-stream window memory (the empirical denoiser, src/scoring/memory.ts): one set of
 * keys for `evaluate.memory` and serve's `memory` section (which adds its own bounds).
 */
export const windowMemoryShape = {
  /** Most windows kept per stream (beyond it at build time, evenly spaced ones). */
  capacity: z.number().int().min(1).default(1000),
  /** Noise levels in standardised units; the score sums sigma^2 * -log p_sigma over them. */
  sigmas: z.array(z.number().positive()).min(1).default([0.5, 1, 2]),
  /** static: the windows it was built from only; fifo: recent normal windows replace the oldest. */
  replacement: z.enum(['static', 'fifo']).default('static'),
  /** fifo: a window is a candidate once it no longer overlaps the newest one; every this many windows one is inserted. */
  insertEvery: z.number().int().min(1).default(1),
  /** fifo: windows whose fused surprise reached this (a flag at false-alarm rate 10^-x) are kept out. */
  insertBelowSurprise: z.number().positive().default(3),
};

export const runtimeSchema = z
  .object({
    provider: z.enum(['cpu', 'cuda', 'tensorrt', 'webgpu', 'auto']).default('cpu'),
    intraOpThreads: z.number().int().min(0).default(0),
  })
  .strict();

export const coreConfigSchema = z
  .object({
    data: dataSchema.default(dataSchema.parse({})),
    window: windowSchema.default(windowSchema.parse({})),
    model: modelSchema.default(modelSchema.parse({})),
    train: trainSchema.default(trainSchema.parse({})),
    scoring: scoringSchema.default(scoringSchema.parse({})),
    calibration: calibrationSchema.default(calibrationSchema.parse({})),
    runtime: runtimeSchema.default(runtimeSchema.parse({})),
  })
  .strict();

export type DataConfig = z.infer<typeof dataSchema>;
export type WindowConfig = z.infer<typeof windowSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;
export type ScoringConfig = z.infer<typeof scoringSchema>;
export type CalibrationConfig = z.infer<typeof calibrationSchema>;
export type RuntimeConfig = z.infer<typeof runtimeSchema>;
export type CoreConfig = z.infer<typeof coreConfigSchema>;
