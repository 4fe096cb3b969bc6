import type { Window } from '../ingest/types.js';
import { normaliseWindow, type NormalisationParams } from '../ingest/normaliser.js';
import type { DenoiserSpec } from '../model/denoiser.js';
import { buildRecipeGraph, extractDenoiserWeights, RECIPE_OUTPUTS } from '../model/recipe-graph.js';
import type { DenoiserRuntime, GraphSession } from '../model/runtime.js';
import { ddimTimesteps, type NoiseSchedule } from '../model/schedule.js';
import type { ScoringConfig } from '../config/core.js';
import { ModelInputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { calibratedScore, calibratedSurprise, type Calibration } from './calibration.js';
import type { WindowScore } from './types.js';

export interface RawScore {
  raw: number;
  channelErrors: Float32Array;
  timeErrors: Float32Array;
  /**
   * Mean signed residual x0 - x0_hat per channel (over steps and draws), in model units.
   * A steady shift that the squared error drowns under its per-step floor shows up here
   * (a pooled score test); clip and horizon statistics are built from it.
   */
  channelResiduals: Float32Array;
}

/** Per-element errors of a batch: squared error and signed residual, each [n, C, W]. */
interface ElementErrors {
  squared: Float32Array;
  signed: Float32Array;
}

/** What the scorer needs of a model; `LoadedModel` provides it. */
export interface ScorerModel {
  runtime: DenoiserRuntime;
  schedule: NoiseSchedule;
  normalisation: NormalisationParams;
  channels: number;
  window: number;
  /** The denoiser's architecture; with it (and a model.onnx noisefloor exported) the recipe runs as one graph. */
  spec?: DenoiserSpec;
}

export interface ScorerOptions {
  /**
   * Score with the recipe graph (one ORT run per batch) when the model allows it; false
   * keeps the step-by-step path (one ORT run per DDIM step, arithmetic in JavaScript),
   * which is also what a foreign model.onnx gets.
   */
  recipeGraph?: boolean;
}

/**
 * Partial-noising diffusion scorer.
 *
 * reconstruction: x_t0 = sqrt(abar) x0 + sqrt(1 - abar) eps for M fixed noise draws, then
 * K deterministic DDIM steps back to x0_hat; raw score = mean (x0 - x0_hat)^2 over channels,
 * steps and draws. likelihood: mean |eps - eps_theta(x_t, t)|^2 over a few t (no chain).
 *
 * The M noises come from a fixed, seeded bank shared by all windows (common random
 * numbers): a window's score does not depend on which batch it was in, so `score`,
 * `serve` and `evaluate` agree window for window, and score differences between windows
 * are not sampling noise. All windows of a call times M go through ORT as one batch (split
 * only beyond `batchSize` windows): with a model noisefloor exported, the whole recipe
 * (noising, the K x M denoiser passes, residuals, pooled statistics) is one ORT run per
 * batch through the recipe graph (src/model/recipe-graph.ts); for any other model.onnx one
 * run per DDIM step with the arithmetic here in JavaScript. Both give the same scores.
 */
export class DiffusionScorer {
  private readonly noiseBank: Float32Array;
  private readonly size: number;
  private recipe: Promise<GraphSession | null> | null = null;
  /** Why the recipe graph could not be built for a model it should work for; null when it was, or was not meant to be. */
  recipeFallbackReason: string | null = null;

  constructor(
    private readonly model: ScorerModel,
    readonly params: ScoringConfig,
    private readonly calibration: Calibration | null,
    private readonly options: ScorerOptions = {},
  ) {
    this.size = model.channels * model.window;
    this.noiseBank = new Rng(params.seed).fillNormal(new Float32Array(params.samples * this.size));
  }

  /**
   * Builds the recipe graph from the model's weights (once; later calls return the same
   * session). Null when the scorer runs step by step: disabled, no spec, or a model.onnx
   * that noisefloor's exporter did not write.
   */
  prepare(): Promise<GraphSession | null> {
    this.recipe ??= this.buildRecipe();
    return this.recipe;
  }

  /** Whether batches go through the one-run recipe graph (after `prepare`). */
  async usesRecipeGraph(): Promise<boolean> {
    return (await this.prepare()) !== null;
  }

  private async buildRecipe(): Promise<GraphSession | null> {
    const { spec, runtime, schedule } = this.model;
    if (this.options.recipeGraph === false || !spec || spec.channels !== this.model.channels || spec.window !== this.model.window) return null;
    const weights = extractDenoiserWeights(runtime.modelBytes, spec);
    if (!weights) return null;
    try {
      const graph = buildRecipeGraph(spec, weights, {
        mode: this.params.mode,
        steps: this.params.mode === 'reconstruction' ? ddimTimesteps(this.t0Step, this.params.steps) : this.likelihoodSteps(),
        samples: this.params.samples,
        noiseBank: this.noiseBank,
        alphaBar: schedule.alphaBar,
      });
      return await runtime.derive(graph, RECIPE_OUTPUTS);
    } catch (e) {
      // A provider that cannot run the recipe graph still runs the model step by step.
      this.recipeFallbackReason = String((e as Error).message ?? e);
      return null;
    }
  }

  private likelihoodSteps(): number[] {
    const T = this.model.schedule.T;
    return this.params.likelihoodTs.map((f) => Math.max(0, Math.min(T - 1, Math.round(f * (T - 1)))));
  }

  /** Step index of the partial-noising depth. */
  get t0Step(): number {
    return Math.max(1, Math.min(this.model.schedule.T - 1, Math.round(this.params.t0 * (this.model.schedule.T - 1))));
  }

  async score(windows: Window[]): Promise<WindowScore[]> {
    const raws = await this.scoreRaw(windows);
    const cal = this.calibration;
    return raws.map((r) => {
      let top = 0;
      for (let c = 1; c < r.channelErrors.length; c++) if (r.channelErrors[c] > r.channelErrors[top]) top = c;
      const score = cal ? calibratedScore(cal, r.raw) : Number.NaN;
      const surprise = cal ? calibratedSurprise(cal, r.raw) : Number.NaN;
      return { ...r, score, surprise, anomaly: cal ? r.raw >= cal.thresholdRaw : false, topChannel: top };
    });
  }

  async scoreRaw(windows: Window[]): Promise<RawScore[]> {
    for (const w of windows)
      if (w.channels !== this.model.channels || w.length !== this.model.window)
        throw new ModelInputError(
          `window of stream "${w.stream}" is ${w.channels} x ${w.length}, the model expects ${this.model.channels} x ${this.model.window}`,
        );
    const out: RawScore[] = [];
    const recipe = await this.prepare();
    for (let i = 0; i < windows.length; i += this.params.batchSize) {
      const chunk = windows.slice(i, i + this.params.batchSize);
      const x0 = new Float32Array(chunk.length * this.size);
      chunk.forEach((w, j) => normaliseWindow(this.model.normalisation, w.data, w.length, x0, j * this.size));
      if (recipe) {
        this.collect(await recipe.run(x0, chunk.length), chunk.length, out);
        continue;
      }
      const err = this.params.mode === 'likelihood' ? await this.likelihoodErrors(x0, chunk.length) : await this.reconstructionErrors(x0, chunk.length);
      out.push(...this.summarise(err, chunk.length));
    }
    return out;
  }

  /** Per-window results as views of the recipe graph's output buffer (no copies). */
  private collect(r: Record<string, Float32Array>, n: number, out: RawScore[]): void {
    const C = this.model.channels;
    const W = this.model.window;
    const { raw, channelErrors, timeErrors, channelResiduals } = r;
    for (let i = 0; i < n; i++)
      out.push({
        raw: raw[i],
        channelErrors: channelErrors.subarray(i * C, (i + 1) * C),
        timeErrors: timeErrors.subarray(i * W, (i + 1) * W),
        channelResiduals: channelResiduals.subarray(i * C, (i + 1) * C),
      });
  }

  /** Mean squared error and mean signed residual per window, channel and step: [n, C, W]. */
  private async reconstructionErrors(x0: Float32Array, n: number): Promise<ElementErrors> {
    const { samples: M } = this.params;
    const S = this.size;
    const ab = this.model.schedule.alphaBar;
    const steps = ddimTimesteps(this.t0Step, this.params.steps);
    const rows = n * M;
    let xt = new Float32Array(rows * S);
    const a0 = Math.sqrt(ab[steps[0]]);
    const s0 = Math.sqrt(1 - ab[steps[0]]);
    for (let i = 0; i < n; i++)
      for (let m = 0; m < M; m++) {
        const r = (i * M + m) * S;
        for (let k = 0; k < S; k++) xt[r + k] = a0 * x0[i * S + k] + s0 * this.noiseBank[m * S + k];
      }
    let x0hat = xt;
    const tvec = new Float32Array(rows);
    for (let s = 0; s < steps.length; s++) {
      const t = steps[s];
      tvec.fill(t);
      const eps = await this.model.runtime.predict(xt, tvec);
      const sa = Math.sqrt(ab[t]);
      const sb = Math.sqrt(1 - ab[t]);
      const next = s + 1 < steps.length ? steps[s + 1] : -1;
      x0hat = new Float32Array(rows * S);
      for (let k = 0; k < x0hat.length; k++) x0hat[k] = (xt[k] - sb * eps[k]) / sa;
      if (next >= 0) {
        const na = Math.sqrt(ab[next]);
        const nb = Math.sqrt(1 - ab[next]);
        const nx = new Float32Array(rows * S);
        for (let k = 0; k < nx.length; k++) nx[k] = na * x0hat[k] + nb * eps[k];
        xt = nx;
      }
    }
    const err = new Float32Array(n * S);
    const signed = new Float32Array(n * S);
    const inv = 1 / M;
    for (let i = 0; i < n; i++)
      for (let m = 0; m < M; m++) {
        const r = (i * M + m) * S;
        for (let k = 0; k < S; k++) {
          const d = x0[i * S + k] - x0hat[r + k];
          err[i * S + k] += d * d * inv;
          signed[i * S + k] += d * inv;
        }
      }
    return { squared: err, signed };
  }

  /**
   * Denoising errors; the signed part is the one-step (Tweedie) residual x0 - x0_hat =
   * sqrt(1 - abar) / sqrt(abar) * (eps_theta - eps), so both modes report it in model units.
   */
  private async likelihoodErrors(x0: Float32Array, n: number): Promise<ElementErrors> {
    const { samples: M } = this.params;
    const S = this.size;
    const ab = this.model.schedule.alphaBar;
    const ts = this.likelihoodSteps();
    const rows = n * M * ts.length;
    const xt = new Float32Array(rows * S);
    const tvec = new Float32Array(rows);
    let r = 0;
    for (let i = 0; i < n; i++)
      for (const t of ts) {
        const sa = Math.sqrt(ab[t]);
        const sb = Math.sqrt(1 - ab[t]);
        for (let m = 0; m < M; m++, r++) {
          tvec[r] = t;
          for (let k = 0; k < S; k++) xt[r * S + k] = sa * x0[i * S + k] + sb * this.noiseBank[m * S + k];
        }
      }
    const eps = await this.model.runtime.predict(xt, tvec);
    const err = new Float32Array(n * S);
    const signed = new Float32Array(n * S);
    const perWindow = M * ts.length;
    const inv = 1 / perWindow;
    const tweedie = ts.map((t) => Math.sqrt(1 - ab[t]) / Math.sqrt(ab[t]));
    r = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < ts.length; j++)
        for (let m = 0; m < M; m++, r++)
          for (let k = 0; k < S; k++) {
            const d = eps[r * S + k] - this.noiseBank[m * S + k];
            err[i * S + k] += d * d * inv;
            signed[i * S + k] += tweedie[j] * d * inv;
          }
    return { squared: err, signed };
  }

  private summarise({ squared: err, signed }: ElementErrors, n: number): RawScore[] {
    const C = this.model.channels;
    const W = this.model.window;
    const S = this.size;
    const out: RawScore[] = [];
    for (let i = 0; i < n; i++) {
      const channelErrors = new Float32Array(C);
      const channelResiduals = new Float32Array(C);
      const timeErrors = new Float32Array(W);
      let total = 0;
      for (let c = 0; c < C; c++) {
        let sum = 0;
        let signedSum = 0;
        for (let w = 0; w < W; w++) {
          const e = err[i * S + c * W + w];
          sum += e;
          signedSum += signed[i * S + c * W + w];
          timeErrors[w] += e / C;
        }
        channelErrors[c] = sum / W;
        channelResiduals[c] = signedSum / W;
        total += sum;
      }
      out.push({ raw: total / S, channelErrors, timeErrors, channelResiduals });
    }
    return out;
  }
}
