import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initWeights, parameterCount, type Architecture, type DenoiserSpec } from '../../src/model/denoiser.js';
import { exportDenoiserOnnx } from '../../src/model/onnx-export.js';
import { DenoiserRuntime } from '../../src/model/runtime.js';
import { cosineSchedule, ddimTimesteps } from '../../src/model/schedule.js';
import { initTfBackend } from '../../src/model/tf-backend.js';
import { tfPredict, weightsToVariables } from '../../src/model/tf-graph.js';
import { trainDenoiser } from '../../src/model/trainer.js';
import { trainSchema } from '../../src/config/core.js';
import { silentLogger } from '../../src/util/log.js';
import { Rng } from '../../src/util/rng.js';
import { ModelInputError } from '../../src/util/errors.js';

const ARCHS: Architecture[] = ['mixer', 'mlp'];
const specOf = (arch: Architecture): DenoiserSpec => ({ arch, channels: 3, window: 32, patch: 8, dim: 24, depth: 2, expansion: 2, timeDim: 16 });

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

beforeAll(async () => {
  await initTfBackend(silentLogger);
});

describe('schedule', () => {
  it('cosine alphaBar decreases from ~1 to ~0', () => {
    const s = cosineSchedule(100);
    expect(s.alphaBar[0]).toBeGreaterThan(0.99);
    expect(s.alphaBar[99]).toBeLessThan(1e-3);
    for (let t = 1; t < 100; t++) expect(s.alphaBar[t]).toBeLessThan(s.alphaBar[t - 1]);
  });
  it('DDIM timesteps run from t0 down, strictly decreasing', () => {
    expect(ddimTimesteps(30, 5)).toEqual([30, 24, 18, 12, 6]);
    expect(ddimTimesteps(2, 5)).toEqual([2, 1]);
  });
});

describe.each(ARCHS)('%s denoiser: ONNX export matches TensorFlow.js', (arch) => {
  const spec = specOf(arch);

  it('gives the same eps as tfjs (max abs error <= 1e-4), untrained and after training steps', async () => {
    const rng = new Rng(5);
    const B = 6;
    const x = rng.fillNormal(new Float32Array(B * spec.channels * spec.window));
    const t = Float32Array.from([0, 3, 17, 42, 77, 99]);

    // A few real training steps so the weights are not just the initialisation.
    const n = 64;
    const data = new Rng(9).fillNormal(new Float32Array(n * spec.channels * spec.window));
    const set = { data, n, size: spec.channels * spec.window };
    const trained = await trainDenoiser(set, set, {
      spec,
      schedule: cosineSchedule(100),
      config: trainSchema.parse({ epochs: 2, stepsPerEpoch: 5, batchSize: 16, seed: 3 }),
      log: silentLogger,
    });
    for (const weights of [initWeights(spec, 1), trained.weights]) {
      const vars = weightsToVariables(spec, weights, false);
      const expected = tfPredict(spec, vars, x, t);
      for (const v of vars.values()) v.dispose();
      const runtime = await DenoiserRuntime.create(exportDenoiserOnnx(spec, weights), spec, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
      const got = await runtime.predict(x, t);
      await runtime.release();
      expect(got.length).toBe(expected.length);
      expect(maxAbsDiff(got, expected)).toBeLessThanOrEqual(1e-4);
      // The check is only meaningful if the network's output is not trivially zero.
      expect(Math.max(...Array.from(expected, Math.abs))).toBeGreaterThan(1e-2);
    }
  });

  it('training and prediction leave no tfjs tensors behind', async () => {
    const before = tf.memory().numTensors;
    const n = 32;
    const set = { data: new Rng(2).fillNormal(new Float32Array(n * spec.channels * spec.window)), n, size: spec.channels * spec.window };
    const res = await trainDenoiser(set, set, {
      spec,
      schedule: cosineSchedule(50),
      config: trainSchema.parse({ epochs: 2, stepsPerEpoch: 3, batchSize: 8 }),
      log: silentLogger,
    });
    const vars = weightsToVariables(spec, res.weights, false);
    tfPredict(spec, vars, set.data.subarray(0, 2 * set.size), Float32Array.from([1, 2]));
    for (const v of vars.values()) v.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(parameterCount(spec)).toBeGreaterThan(1000);
  });
});

describe('runtime', () => {
  it('checks input sizes against the model', async () => {
    const spec = specOf('mlp');
    const runtime = await DenoiserRuntime.create(exportDenoiserOnnx(spec, initWeights(spec, 1)), spec, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
    await expect(runtime.predict(new Float32Array(10), new Float32Array(1))).rejects.toBeInstanceOf(ModelInputError);
    await runtime.release();
  });

  it('refuses a model whose declared shape differs from the manifest', async () => {
    const spec = specOf('mlp');
    await expect(
      DenoiserRuntime.create(exportDenoiserOnnx(spec, initWeights(spec, 1)), { channels: 4, window: 32 }, { provider: 'cpu', intraOpThreads: 1 }, silentLogger),
    ).rejects.toThrow(/says 4 channels/);
  });

  it('auto falls back to a provider that works here, and names it', async () => {
    const spec = specOf('mlp');
    const runtime = await DenoiserRuntime.create(exportDenoiserOnnx(spec, initWeights(spec, 1)), spec, { provider: 'auto', intraOpThreads: 1 }, silentLogger);
    expect(['cpu', 'cuda', 'tensorrt', 'webgpu']).toContain(runtime.provider);
    await runtime.release();
  });
});
