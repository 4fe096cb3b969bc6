import { Rng } from '../util/rng.js';

/**
 * The noise-prediction network eps_theta(x_t, t), x of shape [B, C, W], t of shape [B].
 *
 * Both architectures use only dense layers, layer norm, SiLU and reshapes, so they train
 * on tfjs's wasm backend (it has no conv filter gradient) and export to plain ONNX ops.
 * - `mixer` (default): an MLP-Mixer over patches of P time steps: tokens are patches
 *   (all channels together, so cross-channel structure is learnt), token-mixing MLPs see
 *   the whole window, channel-mixing MLPs the features of one patch.
 * - `mlp`: the flattened window through residual MLP blocks; smallest, for short windows.
 *
 * The forward pass is written once against `GraphOps` and run by two implementations:
 * TensorFlow.js tensors for training and an ONNX graph builder for export, so the two
 * cannot drift apart.
 */
export type Architecture = 'mixer' | 'mlp';

export interface DenoiserSpec {
  arch: Architecture;
  channels: number;
  window: number;
  /** Patch length P (mixer); W must be a multiple of P. */
  patch: number;
  /** Hidden width D. */
  dim: number;
  /** Number of residual blocks. */
  depth: number;
  /** Hidden width multiplier inside the MLPs. */
  expansion: number;
  /** Size of the sinusoidal timestep embedding (even). */
  timeDim: number;
}

export const LAYER_NORM_EPS = 1e-5;

export interface GraphOps<T> {
  param(name: string): T;
  constant(name: string, data: Float32Array, shape: number[]): T;
  matmul(a: T, w: T): T;
  add(a: T, b: T): T;
  mul(a: T, b: T): T;
  sigmoid(a: T): T;
  sin(a: T): T;
  cos(a: T): T;
  concatLast(a: T, b: T): T;
  /** Reshape; -1 allowed once (the batch dimension). */
  reshape(a: T, shape: number[]): T;
  transpose(a: T, perm: number[]): T;
  layerNorm(x: T, gamma: T, beta: T): T;
  /** [B, X] -> [B, 1, X] */
  unsqueezeMiddle(a: T): T;
  /** [B] -> [B, 1] */
  unsqueezeLast(a: T): T;
}

export function validateSpec(spec: DenoiserSpec): string[] {
  const errs: string[] = [];
  if (spec.channels < 1) errs.push('channels must be >= 1');
  if (spec.window < 2) errs.push('window must be >= 2');
  if (spec.arch === 'mixer' && spec.window % spec.patch !== 0)
    errs.push(`window ${spec.window} must be a multiple of the patch length ${spec.patch}`);
  if (spec.timeDim % 2 !== 0) errs.push('timeDim must be even');
  return errs;
}

/** Parameter names and shapes, in a fixed order (checkpoints and export rely on it). */
export function parameterShapes(spec: DenoiserSpec): [string, number[]][] {
  const { channels: C, window: W, patch: P, dim: D, depth: L, expansion: E, timeDim: TD } = spec;
  const H = D * E;
  const out: [string, number[]][] = [
    ['time.w1', [TD, D]],
    ['time.b1', [D]],
    ['time.w2', [D, D]],
    ['time.b2', [D]],
  ];
  if (spec.arch === 'mixer') {
    const N = W / P;
    const Ht = Math.max(N * E, 8);
    out.push(['embed.w', [C * P, D]], ['embed.b', [D]], ['pos', [N, D]]);
    for (let l = 0; l < L; l++) {
      out.push(
        [`block${l}.time.w`, [D, D]],
        [`block${l}.time.b`, [D]],
        [`block${l}.ln1.g`, [D]],
        [`block${l}.ln1.b`, [D]],
        [`block${l}.tok.w1`, [N, Ht]],
        [`block${l}.tok.b1`, [Ht]],
        [`block${l}.tok.w2`, [Ht, N]],
        [`block${l}.tok.b2`, [N]],
        [`block${l}.ln2.g`, [D]],
        [`block${l}.ln2.b`, [D]],
        [`block${l}.ch.w1`, [D, H]],
        [`block${l}.ch.b1`, [H]],
        [`block${l}.ch.w2`, [H, D]],
        [`block${l}.ch.b2`, [D]],
      );
    }
    out.push(['out.ln.g', [D]], ['out.ln.b', [D]], ['out.w', [D, C * P]], ['out.b', [C * P]]);
  } else {
    out.push(['embed.w', [C * W, D]], ['embed.b', [D]]);
    for (let l = 0; l < L; l++) {
      out.push(
        [`block${l}.time.w`, [D, D]],
        [`block${l}.time.b`, [D]],
        [`block${l}.ln.g`, [D]],
        [`block${l}.ln.b`, [D]],
        [`block${l}.w1`, [D, H]],
        [`block${l}.b1`, [H]],
        [`block${l}.w2`, [H, D]],
        [`block${l}.b2`, [D]],
      );
    }
    out.push(['out.ln.g', [D]], ['out.ln.b', [D]], ['out.w', [D, C * W]], ['out.b', [C * W]]);
  }
  return out;
}

export type Weights = Map<string, Float32Array>;

export function parameterCount(spec: DenoiserSpec): number {
  return parameterShapes(spec).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

/**
 * Initial weights: scaled normal (fan-in) for matrices, ones for norm gains, zeros for
 * biases; the last projection of each residual branch and of the output starts small so
 * the untrained network is close to identity on the residual stream.
 */
export function initWeights(spec: DenoiserSpec, seed: number): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const [name, shape] of parameterShapes(spec)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith('.g')) data.fill(1);
    else if (shape.length === 2 || name === 'pos') {
      const fanIn = shape[0];
      const residualOut = /\.(w2|time\.w)$/.test(name) && name.startsWith('block');
      const scale = (name === 'pos' ? 0.02 : 1 / Math.sqrt(fanIn)) * (residualOut || name === 'out.w' ? 0.1 : 1);
      rng.fillNormal(data, scale);
    }
    w.set(name, data);
  }
  return w;
}

/** Frequencies of the sinusoidal timestep embedding (as in the transformer / DDPM). */
export function timeFrequencies(timeDim: number): Float32Array {
  const half = timeDim / 2;
  const f = new Float32Array(half);
  for (let i = 0; i < half; i++) f[i] = Math.exp((-Math.log(10000) * i) / half);
  return f;
}

function silu<T>(ops: GraphOps<T>, a: T): T {
  return ops.mul(a, ops.sigmoid(a));
}

function dense<T>(ops: GraphOps<T>, x: T, prefix: string, w = 'w', b = 'b'): T {
  return ops.add(ops.matmul(x, ops.param(`${prefix}.${w}`)), ops.param(`${prefix}.${b}`));
}

/** eps_theta(x, t): x [B, C, W] in model space, t [B] float timesteps. */
export function denoiserForward<T>(ops: GraphOps<T>, spec: DenoiserSpec, x: T, t: T): T {
  const { channels: C, window: W, patch: P, depth: L } = spec;
  const freqs = ops.constant('time.freqs', timeFrequencies(spec.timeDim), [spec.timeDim / 2]);
  const args = ops.mul(ops.unsqueezeLast(t), freqs);
  const emb = ops.concatLast(ops.sin(args), ops.cos(args));
  const temb = dense(ops, silu(ops, dense(ops, emb, 'time', 'w1', 'b1')), 'time', 'w2', 'b2');

  if (spec.arch === 'mixer') {
    const N = W / P;
    let h = ops.transpose(ops.reshape(x, [-1, C, N, P]), [0, 2, 1, 3]);
    h = ops.reshape(h, [-1, N, C * P]);
    h = ops.add(ops.add(dense(ops, h, 'embed'), ops.param('pos')), ops.unsqueezeMiddle(temb));
    for (let l = 0; l < L; l++) {
      const p = `block${l}`;
      h = ops.add(h, ops.unsqueezeMiddle(dense(ops, temb, `${p}.time`)));
      let y = ops.layerNorm(h, ops.param(`${p}.ln1.g`), ops.param(`${p}.ln1.b`));
      y = ops.transpose(y, [0, 2, 1]);
      y = dense(ops, silu(ops, dense(ops, y, `${p}.tok`, 'w1', 'b1')), `${p}.tok`, 'w2', 'b2');
      h = ops.add(h, ops.transpose(y, [0, 2, 1]));
      y = ops.layerNorm(h, ops.param(`${p}.ln2.g`), ops.param(`${p}.ln2.b`));
      y = dense(ops, silu(ops, dense(ops, y, `${p}.ch`, 'w1', 'b1')), `${p}.ch`, 'w2', 'b2');
      h = ops.add(h, y);
    }
    let out = dense(ops, ops.layerNorm(h, ops.param('out.ln.g'), ops.param('out.ln.b')), 'out');
    out = ops.transpose(ops.reshape(out, [-1, N, C, P]), [0, 2, 1, 3]);
    return ops.reshape(out, [-1, C, W]);
  }

  let h = ops.add(dense(ops, ops.reshape(x, [-1, C * W]), 'embed'), temb);
  for (let l = 0; l < L; l++) {
    const p = `block${l}`;
    h = ops.add(h, dense(ops, temb, `${p}.time`));
    const y = ops.layerNorm(h, ops.param(`${p}.ln.g`), ops.param(`${p}.ln.b`));
    h = ops.add(h, dense(ops, silu(ops, dense(ops, y, p, 'w1', 'b1')), p, 'w2', 'b2'));
  }
  const out = dense(ops, ops.layerNorm(h, ops.param('out.ln.g'), ops.param('out.ln.b')), 'out');
  return ops.reshape(out, [-1, C, W]);
}

/** Multiply-add FLOPs (2 per MAC) of one forward pass for one window; matmuls only. */
export function denoiserFlops(spec: DenoiserSpec): number {
  const { channels: C, window: W, patch: P, dim: D, depth: L, expansion: E, timeDim: TD } = spec;
  const H = D * E;
  let macs = TD * D + D * D;
  if (spec.arch === 'mixer') {
    const N = W / P;
    const Ht = Math.max(N * E, 8);
    macs += N * C * P * D + L * (D * D + 2 * D * N * Ht + 2 * N * D * H) + N * D * C * P;
  } else {
    macs += C * W * D + L * (D * D + 2 * D * H) + D * C * W;
  }
  return 2 * macs;
}
