import onnxProto from 'onnx-proto';
import { denoiserForward, parameterShapes, type DenoiserSpec, type Weights } from './denoiser.js';
import { OnnxEmitter, TapeOps, shapeSize, type Value } from './onnx-autodiff.js';
import { ONNX_OPSET } from './onnx-export.js';
import { valueInfo } from './onnx-builders.js';

const { onnx } = onnxProto;

/**
 * The training step of the denoiser as one ONNX graph, built from `denoiserForward` (the
 * definition the exporter serialises) by `TapeOps`.
 *
 * All parameters live in one flat vector `theta` in `parameterShapes` order, and so do the
 * optimiser state (`m`, `v`) and the EMA of the weights: the graph splits `theta` into the
 * named tensors for the forward pass and concatenates their gradients back, so clipping,
 * AdamW and the EMA are a dozen element-wise nodes over one vector instead of a dozen per
 * parameter, and the caller passes four arrays between steps.
 *
 * Graphs:
 * - `train`: theta, m, v, ema, the batch and the step's scalars in; theta_out, m_out,
 *   v_out, ema_out, loss and grad_norm (before clipping) out.
 * - `eval`: theta and a batch in, the per-window loss out (validation, with EMA weights).
 * - `gradients`: theta and a batch in, loss and the flat gradient out (parity tests).
 *
 * The batch: x0 [B,C,W] clean windows in model space, t [B] timesteps, sa/sb [B] the
 * noising coefficients sqrt(abar_t) and sqrt(1 - abar_t), eps [B,C,W] the noise, w [B]
 * per-window loss weights. The loss is sum_b w_b mse_b / sum_b w_b with mse_b the mean
 * squared error of the predicted noise over the window.
 */
export type TrainGraphKind = 'train' | 'eval' | 'gradients';

export interface OptimiserSettings {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Global gradient-norm clip; 0: none. */
  gradClip: number;
  /** Decoupled weight decay; applied to matrices only (not biases, norms). */
  weightDecay: number;
}

export interface ParameterLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  sizes: number[];
  total: number;
}

export function parameterLayout(spec: DenoiserSpec): ParameterLayout {
  const names: string[] = [];
  const shapes: number[][] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const [name, shape] of parameterShapes(spec)) {
    names.push(name);
    shapes.push(shape);
    offsets.push(total);
    const n = shapeSize(shape);
    sizes.push(n);
    total += n;
  }
  return { names, shapes, offsets, sizes, total };
}

export function flattenWeights(layout: ParameterLayout, weights: Weights): Float32Array {
  const flat = new Float32Array(layout.total);
  layout.names.forEach((name, i) => {
    const w = weights.get(name);
    if (!w || w.length !== layout.sizes[i]) throw new Error(`weights lack ${name} of ${layout.sizes[i]} values`);
    flat.set(w, layout.offsets[i]);
  });
  return flat;
}

export function unflattenWeights(layout: ParameterLayout, flat: Float32Array): Weights {
  const w: Weights = new Map();
  layout.names.forEach((name, i) => w.set(name, flat.slice(layout.offsets[i], layout.offsets[i] + layout.sizes[i])));
  return w;
}

/** Whether decoupled weight decay applies to a parameter: matrices and the position table. */
export function decays(shape: number[]): boolean {
  return shape.length === 2;
}

/** Names of the scalar inputs of the `train` graph, fed each step. */
export const STEP_SCALARS = ['step_size', 'v_scale', 'decay_keep', 'ema_decay'] as const;

export function buildTrainGraph(spec: DenoiserSpec, kind: TrainGraphKind, opt: OptimiserSettings): Uint8Array {
  const layout = parameterLayout(spec);
  const e = new OnnxEmitter();
  const P = layout.total;
  const { channels: C, window: W } = spec;
  const withGrad = kind !== 'eval';

  // theta -> named parameter tensors.
  const pieces = e.node('Split', ['theta', e.i64(layout.sizes)], [], layout.names.map((n) => `p_flat.${n}`));
  const params = new Map<string, Value>();
  layout.names.forEach((name, i) => {
    const shape = layout.shapes[i];
    const tensor = shape.length === 1 ? pieces[i] : e.op('Reshape', [pieces[i], e.i64(shape)]);
    params.set(name, { name: tensor, shape, grad: withGrad });
  });
  const ops = new TapeOps(e, (name) => {
    const p = params.get(name);
    if (!p) throw new Error(`missing parameter ${name}`);
    return p;
  });

  // Noising in the graph: x_t = sa * x0 + sb * eps.
  const axes12 = e.i64([1, 2]);
  const sa = e.op('Unsqueeze', ['sa', axes12]);
  const sb = e.op('Unsqueeze', ['sb', axes12]);
  const xt: Value = { name: e.op('Add', [e.op('Mul', ['x0', sa]), e.op('Mul', ['eps', sb])]), shape: [-1, C, W], grad: false };
  const t: Value = { name: 't', shape: [-1], grad: false };
  const pred = denoiserForward(ops, spec, xt, t);

  const diff = e.op('Sub', [pred.name, 'eps']);
  const perWindow = e.op('ReduceMean', [e.op('Mul', [diff, diff])], [onnxInts('axes', [1, 2]), onnxInt('keepdims', 0)]);

  const batchInputs = [
    valueInfo('x0', ['B', C, W]),
    valueInfo('t', ['B']),
    valueInfo('sa', ['B']),
    valueInfo('sb', ['B']),
    valueInfo('eps', ['B', C, W]),
  ];
  const inputs = [valueInfo('theta', [P]), ...batchInputs];
  const outputs = [];

  if (kind === 'eval') {
    e.node('Identity', [perWindow], [], ['loss_per_window']);
    outputs.push(valueInfo('loss_per_window', ['B']));
  } else {
    inputs.push(valueInfo('w', ['B']));
    const keep0 = [onnxInt('keepdims', 0)];
    const wsum = e.op('ReduceSum', ['w'], keep0);
    e.node('Div', [e.op('ReduceSum', [e.op('Mul', [perWindow, 'w'])], keep0), wsum], [], ['loss']);
    outputs.push(valueInfo('loss', []));
    // d loss / d pred = 2 (pred - eps) w_b / (S sum w).
    const coef = e.op('Mul', [e.op('Div', ['w', wsum]), e.scalar(2 / (C * W))]);
    const seed = e.op('Mul', [diff, e.op('Reshape', [coef, e.i64([-1, 1, 1])])]);
    const grads = ops.backward(pred, seed);
    const flatGrads = layout.names.map((name, i) => {
      const g = grads.get(params.get(name)!.name);
      if (g === undefined) throw new Error(`no gradient reaches ${name}`);
      return layout.shapes[i].length === 1 ? g : e.op('Reshape', [g, e.i64([layout.sizes[i]])]);
    });
    if (kind === 'gradients') {
      e.node('Concat', flatGrads, [onnxInt('axis', 0)], ['grad']);
      outputs.push(valueInfo('grad', [P]));
    } else {
      let g = e.op('Concat', flatGrads, [onnxInt('axis', 0)]);
      e.node('Sqrt', [e.op('ReduceSumSquare', [g], [onnxInt('keepdims', 0)])], [], ['grad_norm']);
      outputs.push(valueInfo('grad_norm', []));
      if (opt.gradClip > 0) {
        const scale = e.op('Min', [e.scalar(1), e.op('Div', [e.scalar(opt.gradClip), e.op('Add', ['grad_norm', e.scalar(1e-6)])])]);
        g = e.op('Mul', [g, scale]);
      }
      const { beta1: b1, beta2: b2 } = opt;
      e.node('Add', [e.op('Mul', ['m', e.scalar(b1)]), e.op('Mul', [g, e.scalar(1 - b1)])], [], ['m_out']);
      e.node('Add', [e.op('Mul', ['v', e.scalar(b2)]), e.op('Mul', [e.op('Mul', [g, g]), e.scalar(1 - b2)])], [], ['v_out']);
      // step_size = lr / (1 - b1^k), v_scale = 1 / (1 - b2^k): Adam's bias correction.
      const denom = e.op('Add', [e.op('Sqrt', [e.op('Mul', ['v_out', 'v_scale'])]), e.scalar(opt.epsilon)]);
      const update = e.op('Mul', [e.op('Div', ['m_out', denom]), 'step_size']);
      let kept = 'theta';
      if (opt.weightDecay > 0) {
        // decay_keep = 1 - lr * weightDecay on matrices, 1 elsewhere (AdamW's decoupled decay).
        const mask = new Float32Array(P);
        layout.shapes.forEach((s, i) => decays(s) && mask.fill(1, layout.offsets[i], layout.offsets[i] + layout.sizes[i]));
        const keep = e.op('Sub', [e.scalar(1), e.op('Mul', [e.constant('decay_mask', mask, [P]), e.op('Sub', [e.scalar(1), 'decay_keep'])])]);
        kept = e.op('Mul', ['theta', keep]);
      }
      e.node('Sub', [kept, update], [], ['theta_out']);
      // ema_out = theta_out + ema_decay * (ema - theta_out)
      e.node('Add', ['theta_out', e.op('Mul', [e.op('Sub', ['ema', 'theta_out']), 'ema_decay'])], [], ['ema_out']);
      inputs.push(valueInfo('m', [P]), valueInfo('v', [P]), valueInfo('ema', [P]), ...STEP_SCALARS.map((s) => valueInfo(s, [])));
      outputs.push(valueInfo('theta_out', [P]), valueInfo('m_out', [P]), valueInfo('v_out', [P]), valueInfo('ema_out', [P]));
    }
  }

  const graph = onnx.GraphProto.create({
    name: `noisefloor_${spec.arch}_${kind}`,
    node: e.nodes,
    initializer: e.initializers,
    input: inputs,
    output: outputs,
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'noisefloor',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

function onnxInts(name: string, ints: number[]) {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
}

function onnxInt(name: string, i: number) {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}

/** Matmul FLOPs of forward + backward for one window: the backward pass does two matmuls per forward one. */
export function trainingFlopsPerWindow(forwardFlops: number): number {
  return 3 * forwardFlops;
}
