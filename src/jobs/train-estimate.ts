import type { TrainConfig } from '../config/core.js';
import { denoiserFlops, type DenoiserSpec } from '../model/denoiser.js';

/**
 * Sustained training throughput per trainer (FLOP/s), per-step overhead and fixed
 * start-up cost. ort: `npm run bench:train` on the shared 2-core development machine
 * (about 20 % of ORT's MatMul peak, 2 threads); tfjs wasm and its per-step overhead:
 * `noisefloor train` on 3,000 rows with the mixer at dim 32 / 64 / 128 gave 0.25-0.78
 * GFLOP/s including overhead; the native tfjs backends are rough guesses. The estimate is
 * for planning ("seconds or hours?"), not a promise: the progress bar shows the measured
 * ETA once training runs.
 */
const FLOPS: Record<string, number> = { ort: 10e9, wasm: 0.7e9, cpu: 0.15e9, tensorflow: 5e9, 'tensorflow-gpu': 50e9 };
const STEP_OVERHEAD_S: Record<string, number> = { ort: 0.005, wasm: 0.08, cpu: 0.05, tensorflow: 0.01, 'tensorflow-gpu': 0.01 };
const FIXED_S = 2;

export interface TrainEstimate {
  seconds: number;
  low: number;
  high: number;
  text: string;
}

function human(s: number): string {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** Rough wall time of a training run at most `config.epochs` long (early stopping can shorten it). */
export function estimateTrainSeconds(spec: DenoiserSpec, config: TrainConfig, trainWindows: number, valWindows: number): TrainEstimate {
  // tfjs's `auto` resolves at run time; wasm is what installs everywhere.
  const backend = config.backend === 'ort' ? 'ort' : config.tfjsBackend === 'auto' ? 'wasm' : config.tfjsBackend;
  const steps = config.epochs * (config.stepsPerEpoch ?? Math.max(1, Math.ceil(trainWindows / config.batchSize)));
  const f = denoiserFlops(spec);
  // A training step is a forward and a backward pass (about 3x forward); validation is forward only.
  const work = steps * config.batchSize * 3 * f + config.epochs * valWindows * f;
  const seconds = FIXED_S + steps * (STEP_OVERHEAD_S[backend] ?? 0.05) + work / (FLOPS[backend] ?? 0.5e9);
  const low = seconds / 2;
  const high = seconds * 2;
  return { seconds, low, high, text: `about ${human(seconds)} (${human(low)} to ${human(high)}) for at most ${config.epochs} epochs of ${steps / config.epochs} steps on ${backend}` };
}
