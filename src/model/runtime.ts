import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ModelInputError, ModelLoadError, ProviderError } from '../util/errors.js';
import { providerUnavailable } from './providers.js';
import type { Logger } from '../util/log.js';

/** This module and ort-trainer.ts (training sessions) are the only ones that import onnxruntime-node. */
export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu' | 'auto';

export interface RuntimeOptions {
  provider: ExecutionProvider;
  /** Threads ORT uses inside one operator; 0 lets ORT decide. */
  intraOpThreads: number;
}

export const ORT_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

/** ORT provider lists tried for each requested provider, in order. */
const PROVIDER_CHAINS: Record<Exclude<ExecutionProvider, 'auto'>, string[]> = {
  cpu: ['cpu'],
  cuda: ['cuda', 'cpu'],
  // TensorRT compiles what it supports and leaves the rest to CUDA, then CPU.
  tensorrt: ['tensorrt', 'cuda', 'cpu'],
  webgpu: ['webgpu', 'cpu'],
};

/**
 * A loaded denoiser: one ORT session, created once and reused for every batch. Checks
 * that the graph has the noisefloor contract (x [B,C,W], t [B] -> eps [B,C,W]).
 */
export class DenoiserRuntime {
  /** Sessions built from this model (the scoring recipe graph), released with it. */
  private readonly derived: GraphSession[] = [];

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: Exclude<ExecutionProvider, 'auto'>,
    readonly channels: number,
    readonly window: number,
    /** The model.onnx bytes, for graphs derived from its weights. */
    readonly modelBytes: Uint8Array,
    private readonly intraOpThreads: number,
  ) {}

  static async create(
    model: Uint8Array | string,
    expected: { channels: number; window: number },
    opts: RuntimeOptions,
    log: Logger,
  ): Promise<DenoiserRuntime> {
    const candidates: Exclude<ExecutionProvider, 'auto'>[] =
      opts.provider === 'auto' ? ['tensorrt', 'cuda', 'webgpu', 'cpu'] : [opts.provider];
    let lastError: unknown;
    for (const provider of candidates) {
      const missing = provider === 'cpu' ? null : providerUnavailable(provider);
      if (missing !== null) {
        if (opts.provider !== 'auto') throw new ProviderError(`execution provider "${provider}" is not available: ${missing}`);
        log.debug('execution provider not installed, skipped', { provider, reason: missing });
        continue;
      }
      try {
        const session = await createSession(model, PROVIDER_CHAINS[provider], opts.intraOpThreads);
        checkContract(session, expected);
        if (opts.provider === 'auto') log.info('execution provider selected', { provider });
        else log.debug('execution provider', { provider });
        const bytes = typeof model === 'string' ? readFileSync(model) : model;
        return new DenoiserRuntime(session, provider, expected.channels, expected.window, bytes, opts.intraOpThreads);
      } catch (e) {
        if (e instanceof ModelLoadError) throw e;
        lastError = e;
        if (opts.provider === 'auto') log.info('execution provider unavailable, trying the next', { provider, error: String((e as Error).message ?? e).slice(0, 300) });
      }
    }
    const msg = String((lastError as Error)?.message ?? lastError);
    if (opts.provider !== 'auto' && opts.provider !== 'cpu')
      throw new ProviderError(`execution provider "${opts.provider}" is not available here: ${msg}`);
    throw new ModelLoadError(`cannot create an ONNX Runtime session: ${msg}`);
  }

  /**
   * eps for a batch: x holds B windows [C, W] back to back, t one timestep per window.
   */
  async predict(x: Float32Array, t: Float32Array): Promise<Float32Array> {
    const B = t.length;
    const size = this.channels * this.window;
    if (x.length !== B * size)
      throw new ModelInputError(`input has ${x.length} values, expected ${B} x ${this.channels} x ${this.window} = ${B * size}`);
    const out = await this.session.run({
      x: new ort.Tensor('float32', x, [B, this.channels, this.window]),
      t: new ort.Tensor('float32', t, [B]),
    });
    return out.eps.data as Float32Array;
  }

  /**
   * A session for another graph derived from this model, on the same provider, with the
   * session options chosen by `npm run bench:score -- --sweep`; released with this runtime.
   */
  async derive(graph: Uint8Array, outputs: readonly string[]): Promise<GraphSession> {
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: PROVIDER_CHAINS[this.provider],
      ...DERIVED_SESSION_OPTIONS,
      ...(this.intraOpThreads > 0 ? { intraOpNumThreads: this.intraOpThreads } : {}),
    });
    const g = new GraphSession(session, outputs);
    this.derived.push(g);
    return g;
  }

  async release(): Promise<void> {
    for (const g of this.derived.splice(0)) await g.release();
    await this.session.release();
  }
}

/**
 * Options of derived (recipe) sessions, chosen by measurement on the CPU provider
 * (`npm run bench:score -- --sweep`, docs/BENCHMARKS.md): full graph optimisation,
 * sequential execution, and intra-op threads that sleep instead of spinning between
 * operators: on a loaded machine spinning threads fight the other processes (and the
 * event loop) for the cores, and the recipe ran at half the speed with them.
 */
export const DERIVED_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  enableCpuMemArena: true,
  enableMemPattern: true,
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};

/**
 * One float32 graph with a single input of shape [n, ...] and float32 outputs of shape
 * [n, ...]. onnxruntime-node 1.30 accepts pre-allocated output tensors but fills them by a
 * copy and still returns tensors of its own (measured: same values, other memory), so the
 * outputs ORT returns are used as they are: one allocation per output per run.
 */
export class GraphSession {
  private readonly inputName: string;
  private readonly inner: number[];

  constructor(
    private readonly session: ort.InferenceSession,
    readonly outputs: readonly string[],
  ) {
    this.inputName = session.inputNames[0];
    const meta = session.inputMetadata.find((m) => m.name === this.inputName);
    this.inner = meta && meta.isTensor ? meta.shape.slice(1).map((d) => (typeof d === 'number' ? d : Number.NaN)) : [];
    if (this.inner.some((d) => !Number.isInteger(d))) throw new ModelLoadError('a derived graph must have a fixed input shape apart from the leading batch dimension');
  }

  /** Runs `n` rows of input; returns each output [n, ...] row-major. */
  async run(input: Float32Array, n: number): Promise<Record<string, Float32Array>> {
    const rowSize = this.inner.reduce((a, b) => a * b, 1);
    if (input.length !== n * rowSize) throw new ModelInputError(`input has ${input.length} values, expected ${n} x ${rowSize}`);
    const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', input, [n, ...this.inner]) });
    const result: Record<string, Float32Array> = {};
    for (const name of this.outputs) result[name] = out[name].data as Float32Array;
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

async function createSession(model: Uint8Array | string, providers: string[], intraOpThreads: number): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    ...(intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
  };
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  } catch (e) {
    const msg = String((e as Error).message ?? e);
    // Provider problems are retried with another provider; a broken graph is final.
    if (/protobuf|parse|invalid model|Load model|ModelProto|opset/i.test(msg) && !/provider|cuda|tensorrt|webgpu/i.test(msg))
      throw new ModelLoadError(`model.onnx is not a valid ONNX model: ${msg}`);
    throw e;
  }
}

function checkContract(session: ort.InferenceSession, expected: { channels: number; window: number }): void {
  const names = [...session.inputNames].sort().join(',');
  if (names !== 't,x') throw new ModelLoadError(`model.onnx must have inputs "x" and "t", it has ${session.inputNames.join(', ')}`);
  if (!session.outputNames.includes('eps') && session.outputNames.length !== 1)
    throw new ModelLoadError(`model.onnx must have one output "eps", it has ${session.outputNames.join(', ')}`);
  const meta = session.inputMetadata?.find?.((m) => m.name === 'x');
  if (meta && meta.isTensor && Array.isArray(meta.shape) && meta.shape.length === 3) {
    const [, c, w] = meta.shape;
    if ((typeof c === 'number' && c !== expected.channels) || (typeof w === 'number' && w !== expected.window))
      throw new ModelLoadError(
        `model.onnx input x is [B, ${c}, ${w}] but noisefloor.json says ${expected.channels} channels and window ${expected.window}`,
      );
  }
}
