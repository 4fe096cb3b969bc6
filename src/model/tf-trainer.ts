import * as tf from '@tensorflow/tfjs';
import { denoiserForward, parameterShapes, type DenoiserSpec, type Weights } from './denoiser.js';
import type { StepResult, StepScalars, TrainBatch, TrainEngine } from './train-engine.js';
import { decays, type OptimiserSettings } from './train-graph.js';
import { tfOps, variablesToWeights, weightsToVariables } from './tf-graph.js';

/** The batch's noised input and loss in tfjs, as the ONNX training graph computes them. */
function batchLoss(spec: DenoiserSpec, params: Map<string, tf.Tensor>, b: TrainBatch): { weighted: tf.Scalar; perWindow: tf.Tensor1D } {
  const { channels: C, window: W } = spec;
  const x0 = tf.tensor3d(b.x0, [b.n, C, W]);
  const eps = tf.tensor3d(b.eps, [b.n, C, W]);
  const xt = tf.add(tf.mul(x0, tf.tensor3d(b.sa, [b.n, 1, 1])), tf.mul(eps, tf.tensor3d(b.sb, [b.n, 1, 1])));
  const pred = denoiserForward(tfOps(params), spec, xt, tf.tensor1d(b.t));
  const perWindow = tf.mean(tf.square(tf.sub(pred, eps)), [1, 2]) as tf.Tensor1D;
  const w = tf.tensor1d(b.w);
  return { weighted: tf.div(tf.sum(tf.mul(perWindow, w)), tf.sum(w)) as tf.Scalar, perWindow };
}

/** Loss and per-parameter gradients in tfjs: the oracle of the ONNX gradient graph. */
export function tfGradients(spec: DenoiserSpec, weights: Weights, batch: TrainBatch): { loss: number; grad: Weights } {
  const vars = weightsToVariables(spec, weights);
  try {
    const { value, grads } = tf.variableGrads(() => batchLoss(spec, vars, batch).weighted);
    const grad: Weights = new Map();
    for (const [name, v] of vars) grad.set(name, grads[v.name].dataSync() as Float32Array);
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, grad };
  } finally {
    for (const v of vars.values()) v.dispose();
  }
}

/**
 * Trains with TensorFlow.js (whichever tfjs backend was initialised): the same clipped
 * AdamW and EMA as the ONNX graph, written with tfjs ops. Kept for users with
 * tfjs-node(-gpu) and as the reference the ONNX trainer is tested against.
 */
export class TfTrainEngine implements TrainEngine {
  private readonly params: Map<string, tf.Variable>;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly ema: Map<string, tf.Variable>;
  private readonly decayMask = new Map<string, boolean>();

  constructor(
    private readonly spec: DenoiserSpec,
    initial: Weights,
    private readonly opt: OptimiserSettings,
    readonly description: string,
  ) {
    this.params = weightsToVariables(spec, initial);
    this.ema = weightsToVariables(spec, initial, false);
    for (const [name, shape] of parameterShapes(spec)) {
      const zeros = tf.zeros(shape);
      this.m.set(name, tf.variable(zeros, false));
      this.v.set(name, tf.variable(zeros, false));
      zeros.dispose();
      this.decayMask.set(name, decays(shape));
    }
  }

  async step(batch: TrainBatch, s: StepScalars): Promise<StepResult> {
    const { beta1: b1, beta2: b2, epsilon, gradClip } = this.opt;
    const [lossT, normT] = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => batchLoss(this.spec, this.params, batch).weighted, [...this.params.values()]);
      const names = [...this.params.keys()];
      const g = names.map((n) => grads[this.params.get(n)!.name]);
      const norm = tf.sqrt(tf.addN(g.map((x) => tf.sum(tf.square(x)))));
      const scale = gradClip > 0 ? tf.minimum(1, tf.div(gradClip, tf.add(norm, 1e-6))) : tf.scalar(1);
      names.forEach((name, i) => {
        const gi = tf.mul(g[i], scale);
        const p = this.params.get(name)!;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const e = this.ema.get(name)!;
        const mNew = tf.add(tf.mul(m, b1), tf.mul(gi, 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(gi), 1 - b2));
        const update = tf.mul(tf.div(mNew, tf.add(tf.sqrt(tf.mul(vNew, s.vScale)), epsilon)), s.stepSize);
        const kept = this.decayMask.get(name) ? tf.mul(p, s.decayKeep) : p;
        const pNew = tf.sub(kept, update);
        m.assign(mNew);
        v.assign(vNew);
        e.assign(tf.add(pNew, tf.mul(tf.sub(e, pNew), s.emaDecay)));
        p.assign(pNew);
      });
      return [value, norm];
    });
    const [loss, gradNorm] = [(await lossT.data())[0], (await normT.data())[0]];
    tf.dispose([lossT, normT]);
    return { loss, gradNorm };
  }

  async evalLosses(batch: TrainBatch): Promise<Float32Array> {
    const t = tf.tidy(() => batchLoss(this.spec, this.ema, batch).perWindow);
    const out = (await t.data()) as Float32Array;
    t.dispose();
    return out;
  }

  async emaWeights(): Promise<Weights> {
    return variablesToWeights(this.ema);
  }

  async release(): Promise<void> {
    for (const map of [this.params, this.m, this.v, this.ema]) for (const x of map.values()) x.dispose();
  }
}
