import * as ort from 'onnxruntime-node';
import { ModelInputError, ModelLoadError, ProviderError } from '../util/errors.js';
import { providerUnavailable } from './providers.js';
import type { Logger } from '../util/log.js';

/** This module is the only one that imports onnxruntime-node. */
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
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: Exclude<ExecutionProvider, 'auto'>,
    readonly channels: number,
    readonly window: number,
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
        return new DenoiserRuntime(session, provider, expected.channels, expected.window);
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
