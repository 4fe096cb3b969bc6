/**
 * Scorer throughput (windows per second) for the default model, and, in the same run,
 * ONNX Runtime's throughput on a large MatMul on this machine, so the scorer's share of
 * the machine's peak is a ratio. Prints figures; not a test.
 *
 *   npm run bench:score [-- --seconds 10 --provider cpu --batch 128]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { coreConfigSchema } from '../src/config/core.js';
import { denoiserFlops, initWeights, parameterCount } from '../src/model/denoiser.js';
import { exportDenoiserOnnx } from '../src/model/onnx-export.js';
import { DenoiserRuntime, type ExecutionProvider } from '../src/model/runtime.js';
import { makeSchedule, ddimTimesteps } from '../src/model/schedule.js';
import { denoiserSpecFrom } from '../src/pipeline/train.js';
import { DiffusionScorer } from '../src/scoring/scorer.js';
import type { Window } from '../src/ingest/types.js';
import { createLogger } from '../src/util/log.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    provider: { type: 'string', default: 'cpu' },
    batch: { type: 'string', default: '128' },
    channels: { type: 'string', default: '3' },
    threads: { type: 'string', default: '0' },
  },
});
const seconds = Number(values.seconds);
const provider = values.provider as ExecutionProvider;
const threads = Number(values.threads);
const log = createLogger({ level: 'warn' });
const config = coreConfigSchema.parse({ scoring: { batchSize: Number(values.batch) } });
const C = Number(values.channels);
const spec = denoiserSpecFrom(config, C);
const schedule = makeSchedule(config.model.schedule, config.model.T);

function progress(msg: string) {
  process.stderr.write(`[bench:score] ${msg}\n`);
}

async function timeLoop(fn: () => Promise<number>, budget: number): Promise<{ units: number; seconds: number }> {
  await fn(); // warm-up: first runs allocate and pick kernels
  let units = 0;
  const start = performance.now();
  let last = start;
  while ((performance.now() - start) / 1000 < budget) {
    units += await fn();
    if (performance.now() - last > 2000) {
      last = performance.now();
      progress(`${((last - start) / 1000).toFixed(0)}s / ${budget}s`);
    }
  }
  return { units, seconds: (performance.now() - start) / 1000 };
}

async function benchScorer() {
  const runtime = await DenoiserRuntime.create(exportDenoiserOnnx(spec, initWeights(spec, 1)), spec, { provider, intraOpThreads: threads }, log);
  const normalisation = { method: 'robust' as const, center: new Array(C).fill(0), scale: new Array(C).fill(1) };
  const scorer = new DiffusionScorer({ runtime, schedule, normalisation, channels: C, window: spec.window }, config.scoring, null);
  const rng = new Rng(1);
  const windows: Window[] = Array.from({ length: config.scoring.batchSize }, (_, i) => ({
    stream: `s${i}`,
    channels: C,
    length: spec.window,
    data: rng.fillNormal(new Float32Array(C * spec.window)),
    start: 0,
    end: spec.window - 1,
    missing: 0,
  }));
  const r = await timeLoop(async () => (await scorer.scoreRaw(windows)).length, seconds);
  await runtime.release();
  return r;
}

async function benchMatMul() {
  const { onnx } = onnxProto;
  const n = 1024;
  const vi = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'mm', node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }], input: [vi('a'), vi('b')], output: [vi('c')] },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), {
    executionProviders: [provider === 'auto' ? 'cpu' : provider],
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
  });
  const rng = new Rng(2);
  const a = new ort.Tensor('float32', rng.fillNormal(new Float32Array(n * n)), [n, n]);
  const b = new ort.Tensor('float32', rng.fillNormal(new Float32Array(n * n)), [n, n]);
  const r = await timeLoop(async () => {
    await session.run({ a, b });
    return 1;
  }, Math.max(3, seconds / 2));
  await session.release();
  return { gflops: (r.units * 2 * n ** 3) / r.seconds / 1e9, n };
}

const flopsPerRow = denoiserFlops(spec);
const stepsPerWindow = config.scoring.mode === 'reconstruction' ? ddimTimesteps(Math.round(config.scoring.t0 * (schedule.T - 1)), config.scoring.steps).length : config.scoring.likelihoodTs.length;
const flopsPerWindow = flopsPerRow * stepsPerWindow * config.scoring.samples;

progress(`scorer: provider ${provider}, ${seconds}s`);
const s = await benchScorer();
progress('ORT MatMul 1024x1024');
const mm = await benchMatMul();
const wps = s.units / s.seconds;
const achieved = (wps * flopsPerWindow) / 1e9;
const rows = [
  ['machine', `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}`],
  ['provider', provider],
  ['model', `${spec.arch} C=${C} W=${spec.window} patch=${spec.patch} dim=${spec.dim} depth=${spec.depth} params=${parameterCount(spec)}`],
  ['scoring', `${config.scoring.mode} t0=${config.scoring.t0} K=${stepsPerWindow} M=${config.scoring.samples} batch=${config.scoring.batchSize}`],
  ['windows/s', wps.toFixed(0)],
  ['scorer GFLOP/s (matmul)', achieved.toFixed(2)],
  [`ORT MatMul ${mm.n}^3 GFLOP/s`, mm.gflops.toFixed(2)],
  ['scorer share of MatMul peak', `${((100 * achieved) / mm.gflops).toFixed(1)}%`],
];
for (const [k, v] of rows) console.log(`${k.padEnd(30)} ${v}`);
