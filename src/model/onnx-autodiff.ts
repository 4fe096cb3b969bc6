import onnxProto from 'onnx-proto';
import { LAYER_NORM_EPS, type GraphOps } from './denoiser.js';
import { floatAttr, floatTensor, int64Tensor, intAttr, intsAttr, type OnnxAttr, type OnnxNode, type OnnxTensor } from './onnx-builders.js';


const { onnx } = onnxProto;

/**
 * Reverse-mode automatic differentiation over the denoiser's `GraphOps`, emitting ONNX.
 *
 * `TapeOps` is a third `GraphOps` implementation beside tfjs and the exporter: running
 * `denoiserForward` through it appends the forward ONNX nodes and records each op on a
 * tape with its static shape. `backward` then walks the tape in reverse and appends, for
 * every op, the ONNX nodes of its vector-Jacobian product. A tape over the same small op
 * set the model is written in (rather than hand-derived gradients of the two
 * architectures) keeps the gradient in step with the forward pass whenever the network
 * changes: a new layer made of existing ops needs no new gradient code, and a new op
 * fails loudly here until its VJP is written.
 *
 * Shapes are static except the batch dimension, written -1 (the same convention as the
 * reshapes in `denoiserForward`), so broadcast axes are known when the graph is built.
 */

export type Shape = number[];

export interface Value {
  /** ONNX tensor name. */
  name: string;
  shape: Shape;
  /** Whether a parameter reaches this value (only these get gradients). */
  grad: boolean;
}

type Attr = OnnxAttr;

/** Appends ONNX nodes and de-duplicated constant initialisers. */
export class OnnxEmitter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly constants = new Set<string>();
  private counter = 0;

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  node(opType: string, inputs: string[], attrs: Attr[] = [], outputs?: string[] | number): string[] {
    const outs =
      Array.isArray(outputs) ? outputs : Array.from({ length: outputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: outs, name: `${outs[0]}_node`, attribute: attrs }));
    return outs;
  }

  op(opType: string, inputs: string[], attrs: Attr[] = []): string {
    return this.node(opType, inputs, attrs)[0];
  }

  i64(values: number[]): string {
    const name = `const_i64_${values.join('_').replace(/-/g, 'm')}`;
    if (!this.constants.has(name)) {
      this.constants.add(name);
      this.initializers.push(int64Tensor(name, values));
    }
    return name;
  }

  /** A float scalar constant (shape []). */
  scalar(value: number): string {
    const name = `const_f32_${String(value).replace(/[-.+]/g, (c) => (c === '-' ? 'm' : c === '.' ? 'p' : 'e'))}`;
    if (!this.constants.has(name)) {
      this.constants.add(name);
      this.initializers.push(floatTensor(name, new Float32Array([value]), []));
    }
    return name;
  }

  constant(name: string, data: Float32Array, shape: number[]): string {
    if (!this.constants.has(name)) {
      this.constants.add(name);
      this.initializers.push(floatTensor(name, data, shape));
    }
    return name;
  }
}

type TapeEntry =
  | { op: 'matmul'; a: Value; w: Value; out: Value }
  | { op: 'add' | 'mul'; a: Value; b: Value; out: Value }
  | { op: 'sigmoid' | 'sin' | 'cos'; a: Value; out: Value }
  | { op: 'silu'; a: Value; s: Value; out: Value }
  | { op: 'concat'; a: Value; b: Value; out: Value }
  | { op: 'reshape' | 'unsqueeze'; a: Value; out: Value }
  | { op: 'transpose'; a: Value; perm: number[]; out: Value }
  | { op: 'layerNorm'; x: Value; g: Value; b: Value; mean: string; invStd: string; out: Value };

function broadcastShape(a: Shape, b: Shape): Shape {
  const r = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

export function shapeSize(shape: Shape): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * GraphOps that emit the forward pass as ONNX nodes and record a tape for `backward`.
 * `paramValue` maps a parameter name to the tensor that holds it in the graph.
 */
export class TapeOps implements GraphOps<Value> {
  readonly tape: TapeEntry[] = [];
  /** sigmoid output name -> its input, to recognise SiLU = a * sigmoid(a). */
  private readonly sigmoidInput = new Map<string, Value>();

  constructor(
    readonly emit: OnnxEmitter,
    private readonly paramValue: (name: string) => Value,
  ) {}

  private value(name: string, shape: Shape, grad: boolean): Value {
    return { name, shape, grad };
  }

  param(name: string): Value {
    return this.paramValue(name);
  }
  constant(name: string, data: Float32Array, shape: number[]): Value {
    return this.value(this.emit.constant(name, data, shape), shape, false);
  }
  matmul(a: Value, w: Value): Value {
    if (w.shape.length !== 2 || a.shape[a.shape.length - 1] !== w.shape[0])
      throw new Error(`matmul shapes [${a.shape}] x [${w.shape}]`);
    const out = this.value(this.emit.op('MatMul', [a.name, w.name]), [...a.shape.slice(0, -1), w.shape[1]], a.grad || w.grad);
    this.tape.push({ op: 'matmul', a, w, out });
    return out;
  }
  add(a: Value, b: Value): Value {
    const out = this.value(this.emit.op('Add', [a.name, b.name]), broadcastShape(a.shape, b.shape), a.grad || b.grad);
    this.tape.push({ op: 'add', a, b, out });
    return out;
  }
  mul(a: Value, b: Value): Value {
    const out = this.value(this.emit.op('Mul', [a.name, b.name]), broadcastShape(a.shape, b.shape), a.grad || b.grad);
    // SiLU gets one fused VJP (5 element-wise nodes instead of 6 through mul and sigmoid).
    if (this.sigmoidInput.get(b.name) === a) this.tape.push({ op: 'silu', a, s: b, out });
    else this.tape.push({ op: 'mul', a, b, out });
    return out;
  }
  private unary(op: 'sigmoid' | 'sin' | 'cos', onnxOp: string, a: Value): Value {
    const out = this.value(this.emit.op(onnxOp, [a.name]), a.shape, a.grad);
    this.tape.push({ op, a, out });
    return out;
  }
  sigmoid(a: Value): Value {
    const out = this.unary('sigmoid', 'Sigmoid', a);
    this.sigmoidInput.set(out.name, a);
    return out;
  }
  sin(a: Value): Value {
    return this.unary('sin', 'Sin', a);
  }
  cos(a: Value): Value {
    return this.unary('cos', 'Cos', a);
  }
  concatLast(a: Value, b: Value): Value {
    const shape = [...a.shape.slice(0, -1), a.shape[a.shape.length - 1] + b.shape[b.shape.length - 1]];
    const out = this.value(this.emit.op('Concat', [a.name, b.name], [intAttr('axis', -1)]), shape, a.grad || b.grad);
    this.tape.push({ op: 'concat', a, b, out });
    return out;
  }
  reshape(a: Value, shape: number[]): Value {
    const out = this.value(this.emit.op('Reshape', [a.name, this.emit.i64(shape)]), shape, a.grad);
    this.tape.push({ op: 'reshape', a, out });
    return out;
  }
  transpose(a: Value, perm: number[]): Value {
    const out = this.value(this.emit.op('Transpose', [a.name], [intsAttr('perm', perm)]), perm.map((p) => a.shape[p]), a.grad);
    this.tape.push({ op: 'transpose', a, perm, out });
    return out;
  }
  layerNorm(x: Value, g: Value, b: Value): Value {
    // The optional outputs (mean, 1/std over the last axis) are what the backward pass needs.
    const [y, mean, invStd] = this.emit.node('LayerNormalization', [x.name, g.name, b.name], [intAttr('axis', -1), floatAttr('epsilon', LAYER_NORM_EPS)], 3);
    const out = this.value(y, x.shape, x.grad || g.grad || b.grad);
    this.tape.push({ op: 'layerNorm', x, g, b, mean, invStd, out });
    return out;
  }
  unsqueezeMiddle(a: Value): Value {
    const out = this.value(this.emit.op('Unsqueeze', [a.name, this.emit.i64([1])]), [a.shape[0], 1, ...a.shape.slice(1)], a.grad);
    this.tape.push({ op: 'unsqueeze', a, out });
    return out;
  }
  unsqueezeLast(a: Value): Value {
    const out = this.value(this.emit.op('Unsqueeze', [a.name, this.emit.i64([-1])]), [...a.shape, 1], a.grad);
    this.tape.push({ op: 'unsqueeze', a, out });
    return out;
  }

  /**
   * Appends the gradient of a scalar with respect to every value on the tape that needs
   * one, given the gradient `seed` of the tape's output `root`. Returns gradient tensor
   * names keyed by value name (parameters included).
   */
  backward(root: Value, seed: string): Map<string, string> {
    const e = this.emit;
    const grads = new Map<string, string>();
    grads.set(root.name, seed);
    const accumulate = (v: Value, g: string) => {
      if (!v.grad) return;
      const prev = grads.get(v.name);
      grads.set(v.name, prev === undefined ? g : e.op('Add', [prev, g]));
    };
    /** Sums a gradient of shape `from` down to the broadcast operand's shape `to`. */
    const reduceTo = (g: string, from: Shape, to: Shape): string => {
      const lead = from.length - to.length;
      const axes: number[] = [];
      for (let i = 0; i < from.length; i++) if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
      if (axes.length === 0) return g;
      const summed = e.op('ReduceSum', [g, e.i64(axes)], [intAttr('keepdims', lead > 0 ? 0 : 1)]);
      // keepdims=0 drops every reduced axis; put back interior size-1 axes if any.
      return lead > 0 && axes.length !== lead ? e.op('Reshape', [summed, e.i64(to)]) : summed;
    };
    const flat2d = (v: string, shape: Shape): string =>
      shape.length === 2 ? v : e.op('Reshape', [v, e.i64([-1, shape[shape.length - 1]])]);

    for (let i = this.tape.length - 1; i >= 0; i--) {
      const t = this.tape[i];
      const g = grads.get(t.out.name);
      if (g === undefined) continue;
      const gs = t.out.shape;
      switch (t.op) {
        case 'matmul': {
          const k = t.w.shape[0];
          const g2 = flat2d(g, gs);
          if (t.a.grad) {
            const da = e.op('Gemm', [g2, t.w.name], [intAttr('transB', 1)]);
            accumulate(t.a, t.a.shape.length === 2 ? da : e.op('Reshape', [da, e.i64(t.a.shape)]));
          }
          if (t.w.grad) {
            const a2 = t.a.shape.length === 2 ? t.a.name : e.op('Reshape', [t.a.name, e.i64([-1, k])]);
            accumulate(t.w, e.op('Gemm', [a2, g2], [intAttr('transA', 1)]));
          }
          break;
        }
        case 'add':
          if (t.a.grad) accumulate(t.a, reduceTo(g, gs, t.a.shape));
          if (t.b.grad) accumulate(t.b, reduceTo(g, gs, t.b.shape));
          break;
        case 'mul':
          if (t.a.grad) accumulate(t.a, reduceTo(e.op('Mul', [g, t.b.name]), gs, t.a.shape));
          if (t.b.grad) accumulate(t.b, reduceTo(e.op('Mul', [g, t.a.name]), gs, t.b.shape));
          break;
        case 'silu': {
          // d/da a s(a) = s (1 + a (1 - s)); the sigmoid's own entry then gets no
          // gradient from this product (it has none if nothing else uses it).
          const s = t.s.name;
          const d = e.op('Mul', [s, e.op('Add', [e.scalar(1), e.op('Mul', [t.a.name, e.op('Sub', [e.scalar(1), s])])])]);
          accumulate(t.a, e.op('Mul', [g, d]));
          break;
        }
        case 'sigmoid': {
          const s = t.out.name;
          const ds = e.op('Mul', [s, e.op('Sub', [e.scalar(1), s])]);
          accumulate(t.a, e.op('Mul', [g, ds]));
          break;
        }
        case 'sin':
          accumulate(t.a, e.op('Mul', [g, e.op('Cos', [t.a.name])]));
          break;
        case 'cos':
          accumulate(t.a, e.op('Neg', [e.op('Mul', [g, e.op('Sin', [t.a.name])])]));
          break;
        case 'concat': {
          const na = t.a.shape[t.a.shape.length - 1];
          const nb = t.b.shape[t.b.shape.length - 1];
          const [ga, gb] = e.node('Split', [g, e.i64([na, nb])], [intAttr('axis', -1)], 2);
          accumulate(t.a, ga);
          accumulate(t.b, gb);
          break;
        }
        case 'reshape':
        case 'unsqueeze':
          accumulate(t.a, e.op('Reshape', [g, e.i64(t.a.shape)]));
          break;
        case 'transpose': {
          const inv = new Array<number>(t.perm.length);
          t.perm.forEach((p, j) => (inv[p] = j));
          accumulate(t.a, e.op('Transpose', [g], [intsAttr('perm', inv)]));
          break;
        }
        case 'layerNorm': {
          // y = xhat * gamma + beta, xhat = (x - mean) * invStd over the last axis D:
          // dx = invStd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
          const xhat = e.op('Mul', [e.op('Sub', [t.x.name, t.mean]), t.invStd]);
          if (t.b.grad) accumulate(t.b, reduceTo(g, gs, t.b.shape));
          if (t.g.grad) accumulate(t.g, reduceTo(e.op('Mul', [g, xhat]), gs, t.g.shape));
          if (t.x.grad) {
            // Opset 17's ReduceMean takes its axes as an attribute (ReduceSum as an input).
            const keep = [intsAttr('axes', [-1]), intAttr('keepdims', 1)];
            const dxhat = e.op('Mul', [g, t.g.name]);
            const m1 = e.op('ReduceMean', [dxhat], keep);
            const m2 = e.op('ReduceMean', [e.op('Mul', [dxhat, xhat])], keep);
            const inner = e.op('Sub', [e.op('Sub', [dxhat, m1]), e.op('Mul', [xhat, m2])]);
            accumulate(t.x, e.op('Mul', [inner, t.invStd]));
          }
          break;
        }
      }
    }
    return grads;
  }
}
