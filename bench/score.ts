/**
 * Scorer throughput (windows per second) for the default model, and, in the same run,
 * ONNX Runtime's throughput on a large MatMul on this machine, so the scorer's share of
 * the machine's peak is a ratio. Prints figures; not a test.
 *
 *   npm run bench:score [-- --seconds 10 --provider cpu --batch 128 --path graph|js --steps K --samples M --mode reconstruction|likelihood]
 *   npm run bench:score -- --sweep     # also times the recipe graph under several session options
 *
 * `--path graph` (default) scores through the recipe graph (one ORT run per batch); `--path js`
 * through the step-by-step path (one ORT run per DDIM step, JavaScript arithmetic between).
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
import { buildRecipeGraph } from '../src/model/recipe-graph.js';
import { denoiserSpecFrom } from '../src/jobs/train.js';
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
    path: { type: 'string', default: 'graph' },
    steps: { type: 'string' },
    samples: { type: 'string' },
    mode: { type: 'string' },
    sweep: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const provider = values.provider as ExecutionProvider;
const threads = Number(values.threads);
const log = createLogger({ level: 'warn' });
const config = coreConfigSchema.parse({
  scoring: {
    batchSize: Number(values.batch),
    ...(values.steps ? { steps: Number(values.steps) } : {}),
    ...(values.samples ? { samples: Number(values.samples) } : {}),
    ...(values.mode ? { mode: values.mode } : {}),
  },
});
const usePath = values.path === 'js' ? 'js' : 'graph';
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

function benchWindows(): Window[] {
  const rng = new Rng(1);
  return Array.from({ length: config.scoring.batchSize }, (_, i) => ({
    stream: `s${i}`,
    channels: C,
    length: spec.window,
    data: rng.fillNormal(new Float32Array(C * spec.window)),
    start: 0,
    end: spec.window - 1,
    missing: 0,
  }));
}

async function benchScorer() {
  const runtime = await DenoiserRuntime.create(exportDenoiserOnnx(spec, initWeights(spec, 1)), spec, { provider, intraOpThreads: threads }, log);
  const normalisation = { method: 'robust' as const, center: new Array(C).fill(0), scale: new Array(C).fill(1) };
  const scorer = new DiffusionScorer({ runtime, schedule, normalisation, channels: C, window: spec.window, spec }, config.scoring, null, {
    recipeGraph: usePath === 'graph',
  });
  if ((await scorer.usesRecipeGraph()) !== (usePath === 'graph')) throw new Error('the recipe graph could not be built for the bench model');
  const windows = benchWindows();
  const r = await timeLoop(async () => (await scorer.scoreRaw(windows)).length, seconds);
  await runtime.release();
  return r;
}

/** The recipe graph alone under several session options; what DERIVED_SESSION_OPTIONS was chosen from. */
async function sweepSessionOptions(): Promise<string[]> {
  const noiseBank = new Rng(config.scoring.seed).fillNormal(new Float32Array(config.scoring.samples * C * spec.window));
  const T = schedule.T;
  const steps =
    config.scoring.mode === 'reconstruction'
      ? ddimTimesteps(Math.max(1, Math.min(T - 1, Math.round(config.scoring.t0 * (T - 1)))), config.scoring.steps)
      : config.scoring.likelihoodTs.map((f) => Math.max(0, Math.min(T - 1, Math.round(f * (T - 1)))));
  const graph = buildRecipeGraph(spec, initWeights(spec, 1), { mode: config.scoring.mode, steps, samples: config.scoring.samples, noiseBank, alphaBar: schedule.alphaBar });
  const n = config.scoring.batchSize;
  const x0 = new ort.Tensor('float32', new Rng(1).fillNormal(new Float32Array(n * C * spec.window)), [n, C, spec.window]);
  const variants: [string, ort.InferenceSession.SessionOptions][] = [];
  for (const level of ['basic', 'extended', 'all'] as const)
    for (const t of [1, 2])
      for (const arena of [true, false]) variants.push([`opt=${level} threads=${t} arena=${arena}`, { graphOptimizationLevel: level, intraOpNumThreads: t, enableCpuMemArena: arena }]);
  variants.push(['opt=all threads=2 no spinning', { graphOptimizationLevel: 'all', intraOpNumThreads: 2, extra: { session: { intra_op: { allow_spinning: '0' } } } }]);
  variants.push(['opt=all threads=1 parallel inter=2', { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 2, executionMode: 'parallel' }]);
  const lines: string[] = [];
  for (const [name, opts] of variants) {
    const session = await ort.InferenceSession.create(graph, { executionProviders: ['cpu'], ...opts });
    const r = await timeLoop(async () => {
      await session.run({ x0 });
      return n;
    }, Math.max(2, seconds / 4));
    await session.release();
    lines.push(`  ${name.padEnd(40)} ${(r.units / r.seconds).toFixed(0)} windows/s`);
    progress(lines[lines.length - 1]);
  }
  return lines;
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

const sweep = values.sweep ? await sweepSessionOptions() : [];
progress(`scorer: provider ${provider}, path ${usePath}, ${seconds}s`);
const s = await benchScorer();
progress('ORT MatMul 1024x1024');
const mm = await benchMatMul();
const wps = s.units / s.seconds;
const achieved = (wps * flopsPerWindow) / 1e9;
const rows = [
  ['machine', `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}`],
  ['provider', provider],
  ['path', usePath === 'graph' ? 'recipe graph (one ORT run per batch)' : 'step by step (one ORT run per DDIM step, JS arithmetic)'],
  ['model', `${spec.arch} C=${C} W=${spec.window} patch=${spec.patch} dim=${spec.dim} depth=${spec.depth} params=${parameterCount(spec)}`],
  ['scoring', `${config.scoring.mode} t0=${config.scoring.t0} K=${stepsPerWindow} M=${config.scoring.samples} batch=${config.scoring.batchSize}`],
  ['windows/s', wps.toFixed(0)],
  ['scorer GFLOP/s (matmul)', achieved.toFixed(2)],
  [`ORT MatMul ${mm.n}^3 GFLOP/s`, mm.gflops.toFixed(2)],
  ['scorer share of MatMul peak', `${((100 * achieved) / mm.gflops).toFixed(1)}%`],
  ['windows/s per MatMul GFLOP/s', (wps / mm.gflops).toFixed(1)],
  // At 100 % of the peak a window costs flopsPerWindow: the ceiling of the line above.
  ['ceiling at 100% of peak', `${(1e9 / flopsPerWindow).toFixed(1)} windows/s per GFLOP/s (${(flopsPerWindow / 1e6).toFixed(2)} MFLOP per window, ${stepsPerWindow * config.scoring.samples} passes)`],
];
for (const [k, v] of rows) console.log(`${k.padEnd(30)} ${v}`);
if (sweep.length) console.log(['recipe graph alone, session options (CPU):', ...sweep].join('\n'));
