import onnxProto from 'onnx-proto';
import { floatAttr, floatTensor, int64Tensor, intAttr, intsAttr, valueInfo, type OnnxNode, type OnnxTensor } from './onnx-builders.js';
import { LAYER_NORM_EPS, denoiserForward, parameterShapes, type DenoiserSpec, type GraphOps, type Weights } from './denoiser.js';

const { onnx } = onnxProto;


/** ONNX opset the exported graph declares; LayerNormalization needs 17. */
export const ONNX_OPSET = 17;
type Node = OnnxNode;
type Tensor = OnnxTensor;

/** GraphOps that append ONNX nodes; values are tensor names. */
export class OnnxGraphBuilder implements GraphOps<string> {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  private readonly constants = new Set<string>();
  private counter = 0;

  constructor(private readonly weights: Weights, private readonly shapes: Map<string, number[]>) {}

  protected node(opType: string, inputs: string[], attrs: ReturnType<typeof intAttr>[] = [], output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${this.counter++}`;
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [out], name: `${out}_node`, attribute: attrs }));
    return out;
  }

  protected int64Const(values: number[]): string {
    const name = `const_i64_${values.join('_').replace(/-/g, 'm')}`;
    if (!this.constants.has(name)) {
      this.constants.add(name);
      this.initializers.push(int64Tensor(name, values));
    }
    return name;
  }

  param(name: string): string {
    if (!this.constants.has(name)) {
      const data = this.weights.get(name);
      const shape = this.shapes.get(name);
      if (!data || !shape) throw new Error(`weights lack ${name}`);
      this.constants.add(name);
      this.initializers.push(floatTensor(name, data, shape));
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
  matmul(a: string, w: string): string {
    return this.node('MatMul', [a, w]);
  }
  add(a: string, b: string): string {
    return this.node('Add', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.node('Mul', [a, b]);
  }
  sigmoid(a: string): string {
    return this.node('Sigmoid', [a]);
  }
  sin(a: string): string {
    return this.node('Sin', [a]);
  }
  cos(a: string): string {
    return this.node('Cos', [a]);
  }
  concatLast(a: string, b: string): string {
    return this.node('Concat', [a, b], [intAttr('axis', -1)]);
  }
  reshape(a: string, shape: number[]): string {
    return this.node('Reshape', [a, this.int64Const(shape)]);
  }
  transpose(a: string, perm: number[]): string {
    return this.node('Transpose', [a], [intsAttr('perm', perm)]);
  }
  layerNorm(x: string, gamma: string, beta: string): string {
    return this.node('LayerNormalization', [x, gamma, beta], [intAttr('axis', -1), floatAttr('epsilon', LAYER_NORM_EPS)]);
  }
  unsqueezeMiddle(a: string): string {
    return this.node('Unsqueeze', [a, this.int64Const([1])]);
  }
  unsqueezeLast(a: string): string {
    return this.node('Unsqueeze', [a, this.int64Const([-1])]);
  }
  /** Renames the final value to the graph output name. */
  identity(a: string, output: string): string {
    return this.node('Identity', [a], [], output);
  }
}

/**
 * Serialises the denoiser with its trained weights as an ONNX model: inputs `x` [B,C,W]
 * and `t` [B] (float timesteps), output `eps` [B,C,W].
 */
export function exportDenoiserOnnx(spec: DenoiserSpec, weights: Weights, meta: Record<string, string> = {}): Uint8Array {
  const builder = new OnnxGraphBuilder(weights, new Map(parameterShapes(spec)));
  const out = denoiserForward(builder, spec, 'x', 't');
  builder.identity(out, 'eps');
  const graph = onnx.GraphProto.create({
    name: `noisefloor_${spec.arch}`,
    node: builder.nodes,
    initializer: builder.initializers,
    input: [valueInfo('x', ['B', spec.channels, spec.window]), valueInfo('t', ['B'])],
    output: [valueInfo('eps', ['B', spec.channels, spec.window])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'noisefloor',
    producerVersion: meta.version ?? '0',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
    graph,
    metadataProps: Object.entries(meta).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
