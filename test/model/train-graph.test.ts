import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainSchema } from '../../src/config/core.js';
import { initWeights, parameterShapes, type Architecture, type DenoiserSpec, type Weights } from '../../src/model/denoiser.js';
import { OrtTrainEngine, ortGradients } from '../../src/model/ort-trainer.js';
import { cosineSchedule } from '../../src/model/schedule.js';
import { initTfBackend } from '../../src/model/tf-backend.js';
import { TfTrainEngine, tfGradients } from '../../src/model/tf-trainer.js';
import { stepScalars, type TrainBatch } from '../../src/model/train-engine.js';
import { BatchMaker, optimiserSettings, trainDenoiser } from '../../src/model/trainer.js';
import { TrainingError } from '../../src/util/errors.js';
import { createLogger, silentLogger } from '../../src/util/log.js';
import { Rng } from '../../src/util/rng.js';

const ARCHS: Architecture[] = ['mixer', 'mlp'];
/** The default model's shape (config defaults, 3 channels). */
const defaultSpec = (arch: Architecture): DenoiserSpec => ({ arch, channels: 3, window: 64, patch: 8, dim: 64, depth: 2, expansion: 2, timeDim: 32 });
const smallSpec = (arch: Architecture): DenoiserSpec => ({ arch, channels: 2, window: 32, patch: 8, dim: 24, depth: 2, expansion: 2, timeDim: 16 });

function randomBatch(spec: DenoiserSpec, n: number, seed: number, weighted: boolean): TrainBatch {
  const rng = new Rng(seed);
  const S = spec.channels * spec.window;
  const schedule = cosineSchedule(100);
  const t = Float32Array.from({ length: n }, () => rng.int(60));
  return {
    n,
    x0: rng.fillNormal(new Float32Array(n * S)),
    t,
    sa: t.map((s) => Math.sqrt(schedule.alphaBar[s])),
    sb: t.map((s) => Math.sqrt(1 - schedule.alphaBar[s])),
    eps: rng.fillNormal(new Float32Array(n * S)),
    w: Float32Array.from({ length: n }, () => (weighted ? 0.25 + rng.next() : 1)),
  };
}

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Perturbs weights so the check does not only see the initialisation (zero biases, unit gains). */
function perturbed(spec: DenoiserSpec, seed: number): Weights {
  const rng = new Rng(seed);
  const w = initWeights(spec, seed);
  for (const v of w.values()) for (let i = 0; i < v.length; i++) v[i] += 0.05 * rng.normal();
  return w;
}

beforeAll(async () => {
  await initTfBackend(silentLogger, 'cpu');
});

describe.each(ARCHS)('%s: ONNX training graph against TensorFlow.js', (arch) => {
  it('gives every parameter the same gradient (relative error <= 1e-4) on random batches', async () => {
    const spec = defaultSpec(arch);
    const opt = optimiserSettings(trainSchema.parse({}));
    for (const [seed, n, weighted] of [
      [1, 16, false],
      [2, 7, true],
    ] as const) {
      const weights = perturbed(spec, seed);
      const batch = randomBatch(spec, n, 100 + seed, weighted);
      const ours = await ortGradients(spec, weights, batch, opt);
      const oracle = tfGradients(spec, weights, batch);
      expect(Math.abs(ours.loss - oracle.loss) / oracle.loss).toBeLessThan(1e-5);
      const all: number[] = [];
      for (const g of oracle.grad.values()) all.push(...g);
      // A parameter whose true gradient is 0 (the mixer's token-mixing output bias is
      // removed by the layer norm that follows it) has only rounding noise in both; its
      // error is measured against a small fraction of the global norm instead.
      const floor = (1e-3 * norm(all)) / Math.sqrt(oracle.grad.size);
      for (const [name] of parameterShapes(spec)) {
        const a = ours.grad.get(name)!;
        const b = oracle.grad.get(name)!;
        const diff = a.map((v, i) => v - b[i]);
        const rel = norm(diff) / Math.max(norm(b), floor);
        expect(rel, `${arch} ${name} (batch ${n})`).toBeLessThanOrEqual(1e-4);
      }
    }
  });

  it('follows the same loss curve for 50 steps from the same seed and batches', async () => {
    const spec = smallSpec(arch);
    const config = trainSchema.parse({ learningRate: 5e-3 });
    const opt = optimiserSettings(config);
    const init = initWeights(spec, 7);
    const tensorsBefore = tf.memory().numTensors;
    const ortEngine = await OrtTrainEngine.create(spec, init, { provider: 'cpu', threads: 1, optimiser: opt }, silentLogger);
    const tfEngine = new TfTrainEngine(spec, init, opt, 'tfjs cpu');
    const n = 256;
    const set = { data: new Rng(3).fillNormal(new Float32Array(n * spec.channels * spec.window)), n, size: spec.channels * spec.window };
    // A smooth signal under the noise, so the loss has something to learn.
    for (let i = 0; i < set.data.length; i++) set.data[i] = 0.3 * set.data[i] + Math.sin((i % spec.window) / 3);
    const maker = new BatchMaker(cosineSchedule(100), 60, set.size, 16);
    const rng = new Rng(11);
    const ours: number[] = [];
    const oracle: number[] = [];
    try {
      for (let k = 1; k <= 50; k++) {
        const idx = Array.from({ length: 16 }, () => rng.int(n));
        const batch = maker.fill(set, idx, rng);
        const s = stepScalars(k, config.learningRate, opt);
        ours.push((await ortEngine.step(batch, s)).loss);
        oracle.push((await tfEngine.step(batch, s)).loss);
      }
      if (process.env.NF_PRINT_CURVES) console.log(arch, ours.map((l, k) => `${l.toFixed(5)}/${oracle[k].toFixed(5)}`).join(' '));
      const val = randomBatch(spec, 32, 5, false);
      const ev = await ortEngine.evalLosses(val);
      const evTf = await tfEngine.evalLosses(val);
      for (let i = 0; i < ev.length; i++) expect(Math.abs(ev[i] - evTf[i])).toBeLessThanOrEqual(1e-3 * Math.max(1, evTf[i]));
    } finally {
      await ortEngine.release();
      await tfEngine.release();
    }
    // Training does something: the loss at the end is well below the start.
    expect(ours[49]).toBeLessThan(0.8 * ours[0]);
    // Float32 rounding differs (kernel order); Adam amplifies it a little over the steps.
    for (let k = 0; k < 50; k++) expect(Math.abs(ours[k] - oracle[k]) / oracle[k], `step ${k + 1}`).toBeLessThanOrEqual(1e-3);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describe('ORT trainer', () => {
  const spec = smallSpec('mixer');
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is deterministic: the same seed and threads give the same weights', async () => {
    const n = 64;
    const set = { data: new Rng(9).fillNormal(new Float32Array(n * spec.channels * spec.window)), n, size: spec.channels * spec.window };
    const config = trainSchema.parse({ epochs: 2, stepsPerEpoch: 6, batchSize: 16, seed: 5, threads: 2 });
    const a = await trainDenoiser(set, set, { spec, schedule: cosineSchedule(100), config, log: silentLogger });
    const b = await trainDenoiser(set, set, { spec, schedule: cosineSchedule(100), config, log: silentLogger });
    expect(a.engine).toBe('ort cpu, 2 threads');
    expect(a.steps).toBe(12);
    for (const [name, w] of a.weights) expect(Array.from(b.weights.get(name)!)).toEqual(Array.from(w));
    // The EMA of the weights is what is returned, not the initialisation.
    expect(Array.from(a.weights.get('out.w')!)).not.toEqual(Array.from(initWeights(spec, 5).get('out.w')!));
  });

  it('stops on a non-finite loss naming the step, keeping the last good checkpoint', async () => {
    const n = 6;
    const size = spec.channels * spec.window;
    const train = { data: new Rng(4).fillNormal(new Float32Array(n * size)), n, size };
    const val = { data: new Rng(5).fillNormal(new Float32Array(4 * size)), n: 4, size };
    const seed = 13;
    // The trainer's first shuffle of window indices comes first from Rng(seed): the third
    // window it visits is the poisoned one, so steps 1 and 2 (epochs 1 and 2) are good.
    const order = new Uint32Array(n).map((_, i) => i);
    new Rng(seed).shuffle(order);
    train.data.fill(Number.NaN, order[2] * size, (order[2] + 1) * size);
    const dir = await mkdtemp(path.join(tmpdir(), 'nf-nan-'));
    dirs.push(dir);
    const checkpointDir = path.join(dir, 'ckpt');
    const config = trainSchema.parse({ epochs: 6, stepsPerEpoch: 1, batchSize: 1, seed, patience: 6 });
    const err = await trainDenoiser(train, val, { spec, schedule: cosineSchedule(100), config, log: silentLogger, checkpointDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as Error).message).toMatch(/loss became NaN at step 3 \(epoch 3/);
    expect((err as Error).message).toContain(checkpointDir);
    const meta = JSON.parse(await readFile(path.join(checkpointDir, 'checkpoint.json'), 'utf8')) as { epoch: number };
    expect(meta.epoch).toBeLessThan(3);
    const bin = new Float32Array((await readFile(path.join(checkpointDir, 'weights.bin'))).buffer.slice(0));
    expect(bin.length).toBeGreaterThan(1000);
    expect(bin.every(Number.isFinite)).toBe(true);
  });

  it('falls back to CPU with one log line when a GPU provider is not available', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) });
    const opt = optimiserSettings(trainSchema.parse({}));
    const engine = await OrtTrainEngine.create(spec, initWeights(spec, 1), { provider: 'webgpu', threads: 1, optimiser: opt }, log);
    try {
      // Where a GPU is present the provider is used; this machine has none.
      if (engine.provider === 'cpu') {
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/training provider unavailable/);
        expect(lines[0]).toMatch(/webgpu/);
      }
      const loss = (await engine.step(randomBatch(spec, 4, 1, false), stepScalars(1, 1e-3, opt))).loss;
      expect(Number.isFinite(loss)).toBe(true);
    } finally {
      await engine.release();
    }
  });
});

describe('train config', () => {
  it('defaults to the ort backend; older tfjs backend names still load', () => {
    expect(trainSchema.parse({}).backend).toBe('ort');
    expect(trainSchema.parse({ backend: 'cpu' })).toMatchObject({ backend: 'ort' });
    expect(trainSchema.parse({ backend: 'auto' })).toMatchObject({ backend: 'ort' });
    expect(trainSchema.parse({ backend: 'wasm' })).toMatchObject({ backend: 'tfjs', tfjsBackend: 'wasm' });
    expect(trainSchema.parse({ backend: 'tfjs', tfjsBackend: 'cpu' })).toMatchObject({ backend: 'tfjs', tfjsBackend: 'cpu' });
    expect(() => trainSchema.parse({ backend: 'torch' })).toThrow();
  });
});
