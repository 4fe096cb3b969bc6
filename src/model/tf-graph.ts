import * as tf from '@tensorflow/tfjs';
import { LAYER_NORM_EPS, denoiserForward, parameterShapes, type DenoiserSpec, type GraphOps, type Weights } from './denoiser.js';

/** GraphOps over TensorFlow.js tensors; callers wrap use in tf.tidy. */
export function tfOps(params: Map<string, tf.Tensor>): GraphOps<tf.Tensor> {
  return {
    param: (name) => {
      const p = params.get(name);
      if (!p) throw new Error(`missing parameter ${name}`);
      return p;
    },
    constant: (_name, data, shape) => tf.tensor(data, shape),
    matmul: (a, w) => {
      if (a.rank === 2) return tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D);
      const lead = a.shape.slice(0, -1);
      const k = a.shape[a.rank - 1];
      const flat = tf.matMul(a.reshape([-1, k]) as tf.Tensor2D, w as tf.Tensor2D);
      return flat.reshape([...(lead as number[]), w.shape[1] as number]);
    },
    add: (a, b) => tf.add(a, b),
    mul: (a, b) => tf.mul(a, b),
    sigmoid: (a) => tf.sigmoid(a),
    sin: (a) => tf.sin(a),
    cos: (a) => tf.cos(a),
    concatLast: (a, b) => tf.concat([a, b], -1),
    reshape: (a, shape) => a.reshape(shape),
    transpose: (a, perm) => tf.transpose(a, perm),
    layerNorm: (x, g, b) => {
      const mean = tf.mean(x, -1, true);
      const centred = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centred), -1, true);
      return tf.add(tf.mul(tf.div(centred, tf.sqrt(tf.add(variance, LAYER_NORM_EPS))), g), b);
    },
    unsqueezeMiddle: (a) => tf.expandDims(a, 1),
    unsqueezeLast: (a) => tf.expandDims(a, -1),
  };
}

export function weightsToVariables(spec: DenoiserSpec, weights: Weights, trainable = true): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(spec)) {
    const data = weights.get(name);
    if (!data) throw new Error(`weights lack ${name}`);
    const init = tf.tensor(data, shape);
    vars.set(name, tf.variable(init, trainable));
    init.dispose();
  }
  return vars;
}

export async function variablesToWeights(vars: Map<string, tf.Variable>): Promise<Weights> {
  const out: Weights = new Map();
  for (const [name, v] of vars) out.set(name, (await v.data()) as Float32Array);
  return out;
}


/** Runs the denoiser in tfjs (inputs as plain arrays); for parity checks and tests. */
export function tfPredict(spec: DenoiserSpec, params: Map<string, tf.Tensor>, x: Float32Array, t: Float32Array): Float32Array {
  const B = t.length;
  return tf.tidy(() => {
    const out = denoiserForward(tfOps(params), spec, tf.tensor(x, [B, spec.channels, spec.window]), tf.tensor(t, [B]));
    return out.dataSync() as Float32Array;
  });
}
