/**
 * Training throughput of the default model: N steps of the configured trainer (ONNX
 * Runtime by default), and, in the same run, ONNX Runtime's throughput on a 1024^3 MatMul
 * with the same threads, so training's share of the machine's peak is a ratio. Optionally
 * also times TensorFlow.js (`--tfjs-steps`). Prints figures; not a test.
 *
 *   npm run bench:train [-- --steps 300 --threads 0 --provider cpu --batch 64 --tfjs-steps 20]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { coreConfigSchema } from '../src/config/core.js';
import { denoiserFlops, initWeights, parameterCount } from '../src/model/denoiser.js';
import { trainThreads } from '../src/model/ort-trainer.js';
import { makeSchedule } from '../src/model/schedule.js';
import { stepScalars, type TrainEngine } from '../src/model/train-engine.js';
import { trainingFlopsPerWindow } from '../src/model/train-graph.js';
import { BatchMaker, createTrainEngine, optimiserSettings } from '../src/model/trainer.js';
import { denoiserSpecFrom } from '../src/jobs/train.js';
import { createLogger } from '../src/util/log.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    provider: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '0' },
    batch: { type: 'string', default: '64' },
    channels: { type: 'string', default: '3' },
    'tfjs-steps': { type: 'string', default: '0' },
    'tfjs-backend': { type: 'string', default: 'wasm' },
  },
});
const steps = Number(values.steps);
const threads = trainThreads(Number(values.threads));
const batch = Number(values.batch);
const C = Number(values.channels);
const log = createLogger({ level: 'warn' });
const config = coreConfigSchema.parse({
  train: { batchSize: batch, threads, provider: values.provider as 'cpu' },
});
const spec = denoiserSpecFrom(config, C);
const schedule = makeSchedule(config.model.schedule, config.model.T);
const opt = optimiserSettings(config.train);

function progress(msg: string) {
  process.stderr.write(`[bench:train] ${msg}\n`);
}

/** Runs `n` steps on random windows after a short warm-up; seconds for the `n`. */
async function timeSteps(engine: TrainEngine, n: number): Promise<number> {
  const windows = 4096;
  const size = C * spec.window;
  const set = { data: new Rng(1).fillNormal(new Float32Array(windows * size)), n: windows, size };
  const maker = new BatchMaker(schedule, Math.round(config.train.tMaxFraction * schedule.T), size, batch);
  const rng = new Rng(2);
  const idx = new Uint32Array(batch);
  let k = 0;
  const step = async () => {
    for (let b = 0; b < batch; b++) idx[b] = rng.int(windows);
    k++;
    await engine.step(maker.fill(set, idx, rng), stepScalars(k, config.train.learningRate, opt));
  };
  for (let i = 0; i < 5; i++) await step(); // warm-up: first runs allocate and pick kernels
  const start = performance.now();
  let last = start;
  for (let i = 0; i < n; i++) {
    await step();
    if (performance.now() - last > 5000) {
      last = performance.now();
      progress(`${i + 1}/${n} steps`);
    }
  }
  return (performance.now() - start) / 1000;
}

async function benchMatMul(seconds: number, spinning: boolean) {
  const { onnx } = onnxProto;
  const n = 1024;
  const vi = (name: string) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'mm', node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }], input: [vi('a'), vi('b')], output: [vi('c')] },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    ...(spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  });
  const rng = new Rng(2);
  const a = new ort.Tensor('float32', rng.fillNormal(new Float32Array(n * n)), [n, n]);
  const b = new ort.Tensor('float32', rng.fillNormal(new Float32Array(n * n)), [n, n]);
  await session.run({ a, b });
  let runs = 0;
  const start = performance.now();
  while ((performance.now() - start) / 1000 < seconds) {
    await session.run({ a, b });
    runs++;
  }
  const elapsed = (performance.now() - start) / 1000;
  await session.release();
  return { gflops: (runs * 2 * n ** 3) / elapsed / 1e9, n };
}

const flopsPerStep = trainingFlopsPerWindow(denoiserFlops(spec)) * batch;
// Rounds of training alternate with the MatMul, so a change in machine load shows in the
// spread; the MatMul peak is the better of ORT's default (spinning) pool and the trainer's.
const rounds = 3;
const perRound = Math.max(10, Math.round(steps / rounds));
const roundSps: number[] = [];
const peaks: number[] = [];
let description = '';
for (let r = 0; r < rounds; r++) {
  const engine = await createTrainEngine(spec, initWeights(spec, 1), config.train, log);
  description = engine.description;
  progress(`round ${r + 1}/${rounds}: ${engine.description}, ${perRound} steps of batch ${batch}`);
  roundSps.push(perRound / (await timeSteps(engine, perRound)));
  await engine.release();
  progress(`round ${r + 1}/${rounds}: ORT MatMul 1024x1024`);
  peaks.push((await benchMatMul(2, r % 2 === 0)).gflops);
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const sps = median(roundSps);
const peak = Math.max(...peaks);
const gflops = (sps * flopsPerStep) / 1e9;

const rows: [string, string][] = [
  ['machine', `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}, load ${os.loadavg()[0].toFixed(1)}`],
  ['trainer', description],
  ['model', `${spec.arch} C=${C} W=${spec.window} patch=${spec.patch} dim=${spec.dim} depth=${spec.depth} params=${parameterCount(spec)}`],
  ['batch', String(batch)],
  ['steps/s (median of rounds)', `${sps.toFixed(1)} (rounds: ${roundSps.map((x) => x.toFixed(1)).join(', ')})`],
  ['windows/s', (sps * batch).toFixed(0)],
  ['training GFLOP/s (matmul, fwd+bwd)', gflops.toFixed(2)],
  ['ORT MatMul 1024^3 GFLOP/s', `${peak.toFixed(2)} (runs: ${peaks.map((x) => x.toFixed(1)).join(', ')})`],
];
for (const [k, v] of rows) console.log(`${k.padEnd(36)} ${v}`);
console.log(`training share of MatMul peak ${((100 * gflops) / peak).toFixed(1)}%`);

const tfjsSteps = Number(values['tfjs-steps']);
if (tfjsSteps > 0) {
  const tfConfig = { ...config.train, backend: 'tfjs' as const, tfjsBackend: values['tfjs-backend'] as 'wasm' };
  const tfEngine = await createTrainEngine(spec, initWeights(spec, 1), tfConfig, log);
  progress(`${tfEngine.description}: ${tfjsSteps} steps`);
  const tfSecs = await timeSteps(tfEngine, tfjsSteps);
  await tfEngine.release();
  const tfSps = tfjsSteps / tfSecs;
  console.log(`${`${tfEngine.description} steps/s`.padEnd(36)} ${tfSps.toFixed(2)}`);
  console.log(`${`${tfEngine.description} share of MatMul peak`.padEnd(36)} ${((100 * tfSps * flopsPerStep) / 1e9 / peak).toFixed(2)}%`);
  console.log(`${'ort / tfjs steps/s'.padEnd(36)} ${(sps / tfSps).toFixed(1)}x`);
}
