import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { ProviderError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { DenoiserSpec, Weights } from './denoiser.js';
import type { StepResult, StepScalars, TrainBatch, TrainEngine } from './train-engine.js';
import { buildTrainGraph, flattenWeights, parameterLayout, unflattenWeights, type OptimiserSettings, type ParameterLayout } from './train-graph.js';

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
      if (failures.length) log.warn('training provider unavailable, using the next', { requested, using: provider, reason: failures.join('; ').slice(0, 300) });
      else if (requested === 'auto') log.info('training provider selected', { provider });
      return { sessions, provider };
    } catch (e) {
      if (provider === 'cpu') throw new ProviderError(`cannot create an ONNX Runtime training session: ${(e as Error).message ?? e}`);
      failures.push(`${provider}: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
  }
  throw new ProviderError(`no training provider available (${failures.join('; ')})`);
}

/**
 * Trains with ONNX Runtime: one `session.run` of the `train` graph per step. The flat
 * parameter, moment and EMA vectors come back as the run's outputs and are fed to the
 * next run as they are (no copies in JS).
 */
export class OrtTrainEngine implements TrainEngine {
  private theta: Float32Array;
  private m: Float32Array;
  private v: Float32Array;
  private ema: Float32Array;

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
    this.theta = initial;
    this.m = new Float32Array(layout.total);
    this.v = new Float32Array(layout.total);
    this.ema = initial.slice();
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

  private batchFeeds(b: TrainBatch): Record<string, ort.Tensor> {
    const { channels: C, window: W } = this.spec;
    return {
      x0: new ort.Tensor('float32', b.x0, [b.n, C, W]),
      t: new ort.Tensor('float32', b.t, [b.n]),
      sa: new ort.Tensor('float32', b.sa, [b.n]),
      sb: new ort.Tensor('float32', b.sb, [b.n]),
      eps: new ort.Tensor('float32', b.eps, [b.n, C, W]),
    };
  }

  async step(batch: TrainBatch, s: StepScalars): Promise<StepResult> {
    const P = this.layout.total;
    const scalar = (v: number) => new ort.Tensor('float32', new Float32Array([v]), []);
    const out = await this.trainSession.run({
      ...this.batchFeeds(batch),
      w: new ort.Tensor('float32', batch.w, [batch.n]),
      theta: new ort.Tensor('float32', this.theta, [P]),
      m: new ort.Tensor('float32', this.m, [P]),
      v: new ort.Tensor('float32', this.v, [P]),
      ema: new ort.Tensor('float32', this.ema, [P]),
      step_size: scalar(s.stepSize),
      v_scale: scalar(s.vScale),
      decay_keep: scalar(s.decayKeep),
      ema_decay: scalar(s.emaDecay),
    });
    this.theta = out.theta_out.data as Float32Array;
    this.m = out.m_out.data as Float32Array;
    this.v = out.v_out.data as Float32Array;
    this.ema = out.ema_out.data as Float32Array;
    return { loss: (out.loss.data as Float32Array)[0], gradNorm: (out.grad_norm.data as Float32Array)[0] };
  }

  async evalLosses(batch: TrainBatch): Promise<Float32Array> {
    const out = await this.evalSession.run({ ...this.batchFeeds(batch), theta: new ort.Tensor('float32', this.ema, [this.layout.total]) });
    return out.loss_per_window.data as Float32Array;
  }

  async emaWeights(): Promise<Weights> {
    return unflattenWeights(this.layout, this.ema);
  }

  /** The raw (non-averaged) weights, a copy. */
  weights(): Weights {
    return unflattenWeights(this.layout, this.theta);
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
