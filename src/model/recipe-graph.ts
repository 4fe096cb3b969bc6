import onnxProto from 'onnx-proto';
import { denoiserForward, parameterShapes, type DenoiserSpec, type Weights } from './denoiser.js';
import { exportDenoiserOnnx, ONNX_OPSET, OnnxGraphBuilder } from './onnx-export.js';
import { intAttr, intsAttr, valueInfo } from './onnx-builders.js';

/**
 * The whole scoring recipe as one ONNX graph, so a batch of windows costs one ORT run:
 * noising from the fixed noise bank, every denoiser pass (the K DDIM steps unrolled, the M
 * draws as batch rows), the residuals and the pooled statistics. The denoiser inside is the
 * same `denoiserForward` (GraphOps) that training and export use, with the weights of the
 * loaded model.onnx, so the recipe graph cannot drift from the model it was built from.
 *
 * Input `x0` [n, C, W]: windows already in model space (normalised in JavaScript, where the
 * centring happens in float64; a float32 centre of a large-offset sensor would lose digits).
 * Outputs (means over draws, and over steps in likelihood mode, as the JS scorer defines them):
 * `raw` [n], `channelErrors` [n, C], `timeErrors` [n, W], `channelResiduals` [n, C].
 */

const { onnx } = onnxProto;

export type RecipeMode = 'reconstruction' | 'likelihood';

export interface ScoringRecipe {
  mode: RecipeMode;
  /** reconstruction: the DDIM timesteps from t0 down; likelihood: the timesteps t_j. */
  steps: number[];
  /** M noise draws; `noiseBank` holds M windows [C, W] back to back. */
  samples: number;
  noiseBank: Float32Array;
  alphaBar: number[];
}

export const RECIPE_OUTPUTS = ['raw', 'channelErrors', 'timeErrors', 'channelResiduals'] as const;
export type RecipeOutput = (typeof RECIPE_OUTPUTS)[number];

/** The denoiser's GraphOps plus the few ops the recipe needs around it. */
class RecipeGraphBuilder extends OnnxGraphBuilder {
  private scalars = 0;

  scalar(prefix: string, values: number[], shape: number[] = [values.length]): string {
    return this.constant(`recipe.${prefix}.${this.scalars++}`, Float32Array.from(values), shape);
  }
  sub(a: string, b: string): string {
    return this.node('Sub', [a, b]);
  }
  div(a: string, b: string): string {
    return this.node('Div', [a, b]);
  }
  reduceMean(a: string, axes: number[], output?: string): string {
    return this.node('ReduceMean', [a], [intsAttr('axes', axes), intAttr('keepdims', 0)], output);
  }
  reshapeTo(a: string, shape: number[]): string {
    return this.reshape(a, shape);
  }
  /** A [J, M] table of timesteps repeated for every window: [n * J * M]. */
  timestepsPerRow(x0: string, table: string, inner: number[]): string {
    const shape = this.node('Shape', [x0]);
    const n = this.node('Slice', [shape, this.int64Const([0]), this.int64Const([1])]);
    const full = this.node('Concat', [n, this.int64Const(inner)], [intAttr('axis', 0)]);
    return this.reshape(this.node('Expand', [table, full]), [-1]);
  }
}

export function buildRecipeGraph(spec: DenoiserSpec, weights: Weights, recipe: ScoringRecipe): Uint8Array {
  const { channels: C, window: W } = spec;
  const M = recipe.samples;
  const ab = recipe.alphaBar;
  if (recipe.noiseBank.length !== M * C * W) throw new Error(`noise bank holds ${recipe.noiseBank.length} values, expected ${M} x ${C} x ${W}`);
  const g = new RecipeGraphBuilder(weights, new Map(parameterShapes(spec)));
  const x0 = 'x0';
  let squared: string;
  let signed: string;
  if (recipe.mode === 'reconstruction') {
    const steps = recipe.steps;
    const noise = g.constant('recipe.noise', recipe.noiseBank, [1, M, C, W]);
    const x0u = g.reshapeTo(x0, [-1, 1, C, W]);
    const noised = g.add(g.mul(x0u, g.scalar('a0', [Math.sqrt(ab[steps[0]])])), g.mul(noise, g.scalar('s0', [Math.sqrt(1 - ab[steps[0]])])));
    let xt = g.reshapeTo(noised, [-1, C, W]);
    let x0hat = xt;
    for (let s = 0; s < steps.length; s++) {
      const t = steps[s];
      // One timestep for the whole batch: the time embedding is computed once and broadcast.
      const eps = denoiserForward(g, spec, xt, g.scalar('t', [t]));
      x0hat = g.div(g.sub(xt, g.mul(eps, g.scalar('sb', [Math.sqrt(1 - ab[t])]))), g.scalar('sa', [Math.sqrt(ab[t])]));
      if (s + 1 < steps.length) {
        const next = steps[s + 1];
        xt = g.add(g.mul(x0hat, g.scalar('na', [Math.sqrt(ab[next])])), g.mul(eps, g.scalar('nb', [Math.sqrt(1 - ab[next])])));
      }
    }
    const d = g.sub(x0u, g.reshapeTo(x0hat, [-1, M, C, W]));
    squared = g.reduceMean(g.mul(d, d), [1]);
    signed = g.reduceMean(d, [1]);
  } else {
    const ts = recipe.steps;
    const J = ts.length;
    const noise = g.constant('recipe.noise', recipe.noiseBank, [1, 1, M, C, W]);
    const x0u = g.reshapeTo(x0, [-1, 1, 1, C, W]);
    const sa = g.scalar('sa', ts.map((t) => Math.sqrt(ab[t])), [1, J, 1, 1, 1]);
    const sb = g.scalar('sb', ts.map((t) => Math.sqrt(1 - ab[t])), [1, J, 1, 1, 1]);
    const xt = g.reshapeTo(g.add(g.mul(x0u, sa), g.mul(sb, noise)), [-1, C, W]);
    const table = g.scalar('t', ts.flatMap((t) => new Array<number>(M).fill(t)), [1, J, M]);
    const eps = denoiserForward(g, spec, xt, g.timestepsPerRow(x0, table, [J, M]));
    const d = g.sub(g.reshapeTo(eps, [-1, J, M, C, W]), noise);
    // Tweedie: x0 - x0_hat = sqrt(1 - abar) / sqrt(abar) * (eps_theta - eps), in model units.
    const tweedie = g.scalar('tweedie', ts.map((t) => Math.sqrt(1 - ab[t]) / Math.sqrt(ab[t])), [1, J, 1, 1, 1]);
    squared = g.reduceMean(g.mul(d, d), [1, 2]);
    signed = g.reduceMean(g.mul(d, tweedie), [1, 2]);
  }
  const channelErrors = g.reduceMean(squared, [2], 'channelErrors');
  g.reduceMean(squared, [1], 'timeErrors');
  g.reduceMean(channelErrors, [1], 'raw');
  g.reduceMean(signed, [2], 'channelResiduals');
  const graph = onnx.GraphProto.create({
    name: `noisefloor_recipe_${spec.arch}_${recipe.mode}`,
    node: g.nodes,
    initializer: g.initializers,
    input: [valueInfo('x0', ['n', C, W])],
    output: [valueInfo('raw', ['n']), valueInfo('channelErrors', ['n', C]), valueInfo('timeErrors', ['n', W]), valueInfo('channelResiduals', ['n', C])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'noisefloor-recipe',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

function tensorFloats(t: onnxProto.onnx.ITensorProto): Float32Array | null {
  if (t.dataType !== 1) return null;
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  if (t.floatData && t.floatData.length > 0) return Float32Array.from(t.floatData);
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The weights of a model.onnx that noisefloor's exporter wrote for `spec`, or null for any
 * other graph (a foreign denoiser, another architecture, edited nodes): the caller then
 * scores with the model as given. The check is strict: the graph re-emitted from the
 * extracted weights must equal the loaded one node for node and initializer for initializer.
 */
export function extractDenoiserWeights(model: Uint8Array, spec: DenoiserSpec): Weights | null {
  let proto: InstanceType<typeof onnx.ModelProto>;
  try {
    proto = onnx.ModelProto.decode(model);
  } catch {
    return null;
  }
  const graph = proto.graph;
  if (!graph) return null;
  const nodes = graph.node ?? [];
  const inits = graph.initializer ?? [];
  const byName = new Map(inits.map((t) => [t.name, t] as const));
  const weights: Weights = new Map();
  for (const [name, shape] of parameterShapes(spec)) {
    const t = byName.get(name);
    if (!t) return null;
    const dims = (t.dims ?? []).map(Number);
    if (dims.length !== shape.length || dims.some((d, i) => d !== shape[i])) return null;
    const data = tensorFloats(t);
    if (!data || data.length !== shape.reduce((a, b) => a * b, 1)) return null;
    weights.set(name, data);
  }
  let again: InstanceType<typeof onnx.ModelProto>;
  try {
    again = onnx.ModelProto.decode(exportDenoiserOnnx(spec, weights));
  } catch {
    return null;
  }
  const nodes2 = again.graph?.node ?? [];
  const inits2 = again.graph?.initializer ?? [];
  if (nodes2.length !== nodes.length || inits2.length !== inits.length) return null;
  for (let i = 0; i < nodes2.length; i++)
    if (!sameBytes(onnx.NodeProto.encode(nodes2[i]).finish(), onnx.NodeProto.encode(nodes[i]).finish())) return null;
  for (const t of inits2) {
    const mine = byName.get(t.name);
    if (!mine) return null;
    const a = tensorFloats(t);
    const b = tensorFloats(mine);
    if (a && b) {
      if (!sameBytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength))) return null;
    } else if (!sameBytes(onnx.TensorProto.encode(t).finish(), onnx.TensorProto.encode(mine).finish())) return null;
  }
  return weights;
}
