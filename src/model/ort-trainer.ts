import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { ProviderError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { DenoiserSpec, Weights } from './denoiser.js';
import type { StepResult, StepScalars, TrainBatch, TrainEngine } from './train-engine.js';
import { STEP_SCALARS, buildTrainGraph, flattenWeights, parameterLayout, unflattenWeights, type OptimiserSettings, type ParameterLayout } from './train-graph.js';

export type TrainProvider = 'cpu' | 'cuda' | 'webgpu' | 'auto';

export interface OrtTrainOptions {
  provider: TrainProvider;
  /** Intra-op threads; 0: one per core. */
  threads: number;
  optimiser: OptimiserSettings;
}

const PROVIDER_CHAINS: Record<Exclude<TrainProvider, 'auto'>, string[]> = {
  cpu: ['cpu'],
  cuda: ['cuda', 'cpu'],
  webgpu: ['webgpu', 'cpu'],
};

export function trainThreads(threads: number): number {
  return threads > 0 ? threads : os.availableParallelism();
}

async function sessionFor(model: Uint8Array, provider: Exclude<TrainProvider, 'auto'>, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: PROVIDER_CHAINS[provider],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    // Idle pool threads sleep instead of spinning: a training step is a few hundred small
    // kernels, and spinning workers compete with the step itself (and with everything else)
    // for the cores; measured on the shared 2-core machine at 2 threads: 21 steps/s
    // spinning, 49-118 not (docs/BENCHMARKS.md).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
}

/**
 * Creates the sessions of `models` on the requested provider. A GPU provider that is not
 * available falls back to CPU with one log line (the same graphs run on every provider).
 */
async function createSessions(
  models: Uint8Array[],
  requested: TrainProvider,
  threads: number,
  log: Logger,
): Promise<{ sessions: ort.InferenceSession[]; provider: Exclude<TrainProvider, 'auto'> }> {
  const candidates: Exclude<TrainProvider, 'auto'>[] = requested === 'auto' ? ['cuda', 'webgpu', 'cpu'] : requested === 'cpu' ? ['cpu'] : [requested, 'cpu'];
  const failures: string[] = [];
  for (const provider of candidates) {
    try {
      const sessions: ort.InferenceSession[] = [];
      for (const m of models) sessions.push(await sessionFor(m, provider, threads));
      // One line either way: a warning when a provider asked for by name is missing.
      const fields = { requested, using: provider, ...(failures.length ? { unavailable: failures.join('; ').slice(0, 300) } : {}) };
      if (requested === 'auto') log.info('training provider selected', fields);
      else if (failures.length) log.warn('training provider unavailable, using cpu', fields);
      return { sessions, provider };
    } catch (e) {
      if (provider === 'cpu') throw new ProviderError(`cannot create an ONNX Runtime training session: ${(e as Error).message ?? e}`);
      failures.push(`${provider}: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
  }
  throw new ProviderError(`no training provider available (${failures.join('; ')})`);
}

/** The flat state vectors of one side of the double buffer, with their ORT tensors. */
interface StateBuffers {
  theta: Float32Array;
  m: Float32Array;
  v: Float32Array;
  ema: Float32Array;
  tensors: { theta: ort.Tensor; m: ort.Tensor; v: ort.Tensor; ema: ort.Tensor };
}

function stateBuffers(P: number, theta?: Float32Array): StateBuffers {
  const b = { theta: theta ?? new Float32Array(P), m: new Float32Array(P), v: new Float32Array(P), ema: theta ? theta.slice() : new Float32Array(P) };
  const t = (a: Float32Array) => new ort.Tensor('float32', a, [P]);
  return { ...b, tensors: { theta: t(b.theta), m: t(b.m), v: t(b.v), ema: t(b.ema) } };
}

/**
 * Trains with ONNX Runtime: one `session.run` of the `train` graph per step. The state
 * (flat parameters, Adam moments, EMA) is double-buffered: each run reads one set of
 * preallocated vectors and ONNX Runtime writes the next state straight into the other
 * (preallocated outputs), then the two swap; nothing is copied or allocated per step.
 */
export class OrtTrainEngine implements TrainEngine {
  private current: StateBuffers;
  private next: StateBuffers;
  private batchFeedsCache: { batch: TrainBatch; n: number; feeds: Record<string, ort.Tensor> } | null = null;
  private readonly scalarData = STEP_SCALARS.map(() => new Float32Array(1));
  private readonly scalarTensors = this.scalarData.map((d) => new ort.Tensor('float32', d, []));

  private constructor(
    private readonly spec: DenoiserSpec,
    private readonly layout: ParameterLayout,
    private readonly trainSession: ort.InferenceSession,
    private readonly evalSession: ort.InferenceSession,
    readonly description: string,
    readonly provider: Exclude<TrainProvider, 'auto'>,
    readonly threads: number,
    initial: Float32Array,
  ) {
    this.current = stateBuffers(layout.total, initial);
    this.next = stateBuffers(layout.total);
  }

  static async create(spec: DenoiserSpec, initial: Weights, opts: OrtTrainOptions, log: Logger): Promise<OrtTrainEngine> {
    const layout = parameterLayout(spec);
    const threads = trainThreads(opts.threads);
    const { sessions, provider } = await createSessions(
      [buildTrainGraph(spec, 'train', opts.optimiser), buildTrainGraph(spec, 'eval', opts.optimiser)],
      opts.provider,
      threads,
      log,
    );
    return new OrtTrainEngine(spec, layout, sessions[0], sessions[1], `ort ${provider}, ${threads} threads`, provider, threads, flattenWeights(layout, initial));
  }

  /** Tensors over the batch's arrays; the trainer refills the same arrays every step. */
  private batchFeeds(b: TrainBatch): Record<string, ort.Tensor> {
    const cached = this.batchFeedsCache;
    if (cached && cached.batch === b && cached.n === b.n) return cached.feeds;
    const { channels: C, window: W } = this.spec;
    const feeds = {
      x0: new ort.Tensor('float32', b.x0, [b.n, C, W]),
      t: new ort.Tensor('float32', b.t, [b.n]),
      sa: new ort.Tensor('float32', b.sa, [b.n]),
      sb: new ort.Tensor('float32', b.sb, [b.n]),
      eps: new ort.Tensor('float32', b.eps, [b.n, C, W]),
      w: new ort.Tensor('float32', b.w, [b.n]),
    };
    this.batchFeedsCache = { batch: b, n: b.n, feeds };
    return feeds;
  }

  async step(batch: TrainBatch, s: StepScalars): Promise<StepResult> {
    const values = [s.stepSize, s.vScale, s.decayKeep, s.emaDecay];
    const feeds: Record<string, ort.Tensor> = { ...this.batchFeeds(batch), ...this.current.tensors };
    STEP_SCALARS.forEach((name, i) => {
      this.scalarData[i][0] = values[i];
      feeds[name] = this.scalarTensors[i];
    });
    const next = this.next.tensors;
    const out = await this.trainSession.run(feeds, { theta_out: next.theta, m_out: next.m, v_out: next.v, ema_out: next.ema, loss: null, grad_norm: null });
    [this.current, this.next] = [this.next, this.current];
    return { loss: (out.loss.data as Float32Array)[0], gradNorm: (out.grad_norm.data as Float32Array)[0] };
  }

  async evalLosses(batch: TrainBatch): Promise<Float32Array> {
    const { w: _w, ...feeds } = this.batchFeeds(batch);
    void _w;
    const out = await this.evalSession.run({ ...feeds, theta: this.current.tensors.ema });
    return out.loss_per_window.data as Float32Array;
  }

  async emaWeights(): Promise<Weights> {
    return unflattenWeights(this.layout, this.current.ema);
  }

  /** The raw (non-averaged) weights, a copy. */
  weights(): Weights {
    return unflattenWeights(this.layout, this.current.theta);
  }

  async release(): Promise<void> {
    await this.trainSession.release();
    await this.evalSession.release();
  }
}

/**
 * Loss and flat gradient of the denoiser at `weights` for one batch, through the ONNX
 * `gradients` graph; for parity checks against TensorFlow.js.
 */
export async function ortGradients(spec: DenoiserSpec, weights: Weights, batch: TrainBatch, optimiser: OptimiserSettings): Promise<{ loss: number; grad: Weights }> {
  const layout = parameterLayout(spec);
  const session = await ort.InferenceSession.create(buildTrainGraph(spec, 'gradients', optimiser), { graphOptimizationLevel: 'all' });
  try {
    const { channels: C, window: W } = spec;
    const out = await session.run({
      theta: new ort.Tensor('float32', flattenWeights(layout, weights), [layout.total]),
      x0: new ort.Tensor('float32', batch.x0, [batch.n, C, W]),
      t: new ort.Tensor('float32', batch.t, [batch.n]),
      sa: new ort.Tensor('float32', batch.sa, [batch.n]),
      sb: new ort.Tensor('float32', batch.sb, [batch.n]),
      eps: new ort.Tensor('float32', batch.eps, [batch.n, C, W]),
      w: new ort.Tensor('float32', batch.w, [batch.n]),
    });
    return { loss: (out.loss.data as Float32Array)[0], grad: unflattenWeights(layout, out.grad.data as Float32Array) };
  } finally {
    await session.release();
  }
}
