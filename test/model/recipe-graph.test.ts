import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { scoringSchema, trainSchema } from '../../src/config/core.js';
import type { Window } from '../../src/ingest/types.js';
import type { Architecture, DenoiserSpec, Weights } from '../../src/model/denoiser.js';
import { exportDenoiserOnnx } from '../../src/model/onnx-export.js';
import { extractDenoiserWeights } from '../../src/model/recipe-graph.js';
import { DenoiserRuntime } from '../../src/model/runtime.js';
import { cosineSchedule } from '../../src/model/schedule.js';
import { initTfBackend } from '../../src/model/tf-backend.js';
import { trainDenoiser } from '../../src/model/trainer.js';
import { DiffusionScorer, type RawScore, type ScorerModel } from '../../src/scoring/scorer.js';
import { silentLogger } from '../../src/util/log.js';
import { Rng } from '../../src/util/rng.js';

const { onnx } = onnxProto;
const C = 3;
const W = 32;
const specOf = (arch: Architecture): DenoiserSpec => ({ arch, channels: C, window: W, patch: 8, dim: 24, depth: 2, expansion: 2, timeDim: 16 });
const schedule = cosineSchedule(100);
// Raw units with an offset and scale, so the normalisation in front of both paths matters.
const normalisation = { method: 'robust' as const, center: [100, -3, 0.5], scale: [10, 0.5, 2] };

/** Periodic channels with a little noise, in raw units. */
function signalWindows(n: number, seed: number, anomaly = false): Window[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const data = new Float32Array(C * W);
    for (let c = 0; c < C; c++)
      for (let w = 0; w < W; w++) {
        const z = Math.sin((2 * Math.PI * (w + i * 3 + c * 5)) / 16) + 0.1 * rng.normal() + (anomaly && c === 1 && w > 20 ? 3 : 0);
        data[c * W + w] = normalisation.center[c] + normalisation.scale[c] * z;
      }
    if (anomaly && i === 0) data[5] = Number.NaN; // a missing value: both paths read it as 0 in model space
    return { stream: `s${i}`, channels: C, length: W, data, start: i * 8, end: i * 8 + W - 1, missing: 0 };
  });
}

/** A few hundred training steps on the periodic signal: weights far from the initialisation. */
async function trainedWeights(spec: DenoiserSpec): Promise<Weights> {
  const n = 96;
  const size = C * W;
  const data = new Float32Array(n * size);
  signalWindows(n, 11).forEach((w, i) => {
    for (let c = 0; c < C; c++)
      for (let k = 0; k < W; k++) data[i * size + c * W + k] = (w.data[c * W + k] - normalisation.center[c]) / normalisation.scale[c];
  });
  const set = { data, n, size };
  const res = await trainDenoiser(set, set, {
    spec,
    schedule,
    config: trainSchema.parse({ epochs: 4, stepsPerEpoch: 25, batchSize: 32, seed: 5 }),
    log: silentLogger,
  });
  return res.weights;
}

function maxDiff(a: RawScore[], b: RawScore[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i].raw - b[i].raw));
    for (const k of ['channelErrors', 'timeErrors', 'channelResiduals'] as const)
      for (let j = 0; j < a[i][k].length; j++) m = Math.max(m, Math.abs(a[i][k][j] - b[i][k][j]));
  }
  return m;
}

/** The same model with its final Identity replaced by a multiplication by one: equal eps, foreign graph. */
function foreignCopy(model: Uint8Array): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  const graph = proto.graph!;
  const last = graph.node![graph.node!.length - 1];
  expect(last.opType).toBe('Identity');
  graph.initializer!.push(onnx.TensorProto.create({ name: 'one', dims: [1], dataType: 1, floatData: [1] }));
  last.opType = 'Mul';
  last.input = [last.input![0], 'one'];
  return onnx.ModelProto.encode(proto).finish();
}

beforeAll(async () => {
  await initTfBackend(silentLogger);
});

describe.each(['mixer', 'mlp'] as Architecture[])('%s: the scoring recipe as one ONNX graph', (arch) => {
  const spec = specOf(arch);
  let bytes: Uint8Array;

  beforeAll(async () => {
    bytes = exportDenoiserOnnx(spec, await trainedWeights(spec), { version: 'test' });
  }, 180_000);

  it.each(['reconstruction', 'likelihood'] as const)('%s mode: scores equal the step-by-step path within 1e-5', async (mode) => {
    const runtime = await DenoiserRuntime.create(bytes, spec, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
    try {
      const model: ScorerModel = { runtime, schedule, normalisation, channels: C, window: W, spec };
      // batchSize 7 over 20 windows: several runs per call, the last one partial.
      const params = scoringSchema.parse({ mode, batchSize: 7, samples: 3, steps: 4, seed: 9 });
      const graph = new DiffusionScorer(model, params, null);
      const steps = new DiffusionScorer(model, params, null, { recipeGraph: false });
      expect(await graph.usesRecipeGraph()).toBe(true);
      expect(await steps.usesRecipeGraph()).toBe(false);
      const windows = [...signalWindows(10, 21), ...signalWindows(10, 22, true)];
      const a = await graph.scoreRaw(windows);
      const b = await steps.scoreRaw(windows);
      expect(a).toHaveLength(windows.length);
      expect(maxDiff(a, b)).toBeLessThanOrEqual(1e-5);
      // Meaningful only if the scores are not flat: they differ from window to window.
      const raws = a.map((r) => r.raw);
      expect(Math.min(...raws)).toBeGreaterThan(1e-3);
      expect(Math.max(...raws)).toBeGreaterThan(1.05 * Math.min(...raws));
      expect(Math.max(...a.map((r) => Math.abs(r.channelResiduals[1])))).toBeGreaterThan(1e-3);
      // A window scores the same alone as inside a batch (the fixed noise bank).
      const [alone] = await graph.scoreRaw([windows[13]]);
      expect(maxDiff([alone], [a[13]])).toBeLessThanOrEqual(1e-5);
    } finally {
      await runtime.release();
    }
  });

  it('a model.onnx noisefloor did not write is scored step by step, with the same scores', async () => {
    const foreign = foreignCopy(bytes);
    expect(extractDenoiserWeights(bytes, spec)).not.toBeNull();
    expect(extractDenoiserWeights(foreign, spec)).toBeNull();
    expect(extractDenoiserWeights(bytes, { ...spec, dim: 32 })).toBeNull();
    const ours = await DenoiserRuntime.create(bytes, spec, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
    const theirs = await DenoiserRuntime.create(foreign, spec, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
    try {
      const params = scoringSchema.parse({ samples: 2, steps: 3 });
      const a = new DiffusionScorer({ runtime: ours, schedule, normalisation, channels: C, window: W, spec }, params, null);
      const b = new DiffusionScorer({ runtime: theirs, schedule, normalisation, channels: C, window: W, spec }, params, null);
      expect(await a.usesRecipeGraph()).toBe(true);
      expect(await b.usesRecipeGraph()).toBe(false);
      const windows = signalWindows(5, 31, true);
      expect(maxDiff(await a.scoreRaw(windows), await b.scoreRaw(windows))).toBeLessThanOrEqual(1e-5);
    } finally {
      await ours.release();
      await theirs.release();
    }
  });
});
