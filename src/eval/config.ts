/**
 * Settings of `noisefloor evaluate`: the core settings every command shares (window,
 * model, train, scoring, calibration, runtime) plus an `evaluate` section for what only a
 * benchmark run needs (post-processing of NAB, online adaptation, baselines). One file
 * per corpus, chosen once for the whole corpus (see docs/evaluation.md).
 */
import { z } from 'zod';
import { coreConfigSchema, windowMemoryShape } from '../config/core.js';

export const likelihoodSchema = z
  .object({
    /** Length of the short-term moving mean (nupic default 10). */
    averagingWindow: z.number().int().min(1).default(10),
    /** Re-estimate the long-term Gaussian every this many windows (nupic default 100). */
    reestimationPeriod: z.number().int().min(1).default(100),
    /** Length of the long-term history (nupic default 8640). */
    historicWindowSize: z.number().int().min(10).default(8640),
  })
  .strict();

export const postprocessSchema = z
  .object({
    /**
     * What a row's output is. raw: the window's raw reconstruction error; calibrated: its
     * tail-probability score; likelihood: Numenta's anomaly likelihood over calibrated scores;
     * none: 0 (with the spatial check: that check alone, a reference without the model).
     */
    output: z.enum(['raw', 'calibrated', 'likelihood', 'none']).default('likelihood'),
    /**
     * What the likelihood is computed over. calibrated: the score in [0, 1] (uniform for
     * normal windows). surprise: -log10 of its tail probability, capped at 12 (about
     * exponential for normal windows, unbounded above). With hop 1 neighbouring windows
     * are nearly identical, so the short-term mean of a bounded uniform score has the spread
     * of one score and its Gaussian tail never gets below about 0.04: the likelihood can
     * hardly rise. The surprise has the long right tail the likelihood needs.
     */
    likelihoodInput: z.enum(['calibrated', 'surprise']).default('calibrated'),
    /** Likelihood on the log scale (nupic's computeLogLikelihood), as NAB's numenta detector reports. */
    logLikelihood: z.boolean().default(true),
    likelihood: likelihoodSchema.default(likelihoodSchema.parse({})),
    /**
     * Numenta's "spatial anomaly": a value beyond the range seen so far by more than this
     * fraction of the range scores 1. null turns it off. Uses only past values.
     */
    spatialTolerance: z.number().min(0).max(1).nullable().default(null),
    /**
     * Refractory suppression (as ARTime masks alarms after each one): after a row whose
     * output reaches `level`, the next `rows` rows output 0, so one event raises one alarm
     * and its aftermath no false ones. rows 0 turns it off. The default level 0.5 is the
     * log-likelihood of Numenta's "red zone" (tail probability 1e-5); no labels involved.
     */
    refractory: z
      .object({ rows: z.number().int().min(0).default(0), level: z.number().default(0.5) })
      .strict()
      .default({ rows: 0, level: 0.5 }),
  })
  .strict();

export const adaptationSchema = z
  .object({
    /** Re-train every this many rows after the first model (0: never; one model per file). */
    everyRows: z.number().int().min(0).default(0),
    /** Rows of recent history the re-trained model learns from. */
    recentRows: z.number().int().min(16).default(2000),
    /**
     * Rows whose window was flagged (calibrated score above the model's threshold) are
     * left out of re-training, so the model does not learn an anomaly as normal.
     */
    excludeFlagged: z.boolean().default(true),
  })
  .strict();

export const baselinesSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Trailing history of the robust z-score (steps before the newest of the window). */
    robustZHistory: z.number().int().min(2).optional(),
    knnK: z.number().int().min(1).default(1),
    knnMaxTrain: z.number().int().min(1).default(1000),
  })
  .strict();

export const memorySchema = z
  .object({
    /**
     * Build the per-unit window memory (the empirical denoiser, src/scoring/memory.ts) from
     * the unit's normal data and score every window against it. Needed when `fusion.parts`
     * names `memory`; otherwise its scores are reported beside the configured ones.
     */
    enabled: z.boolean().default(false),
    ...windowMemoryShape,
  })
  .strict();

const resolutionShape = {
  /**
   * Rows averaged into one step of the window memory's windows (src/eval/resolution.ts):
   * the memory's window ending at each row is `windowLength` means of `rowsPerStep`
   * rows. auto: floor(normal rows / (probationWindows x windowLength)), at least 1
   * (ARTime's rule: the probationary period holds about 13 windows). 1 with the
   * configured window length: the memory reads the detector's windows (as before).
   * The network part always reads every row with the configured window.
   */
  rowsPerStep: z.union([z.literal('auto'), z.number().int().min(1)]).default(1),
  /** Window length of the memory, in steps; null: the configured window.length. */
  windowLength: z.number().int().min(2).nullable().default(null),
  /** rowsPerStep auto: how many windows the normal data (NAB: the probationary period) should hold. */
  probationWindows: z.number().int().min(1).default(13),
};

export const resolutionSpecSchema = z.object(resolutionShape).strict();

export const resolutionSchema = z
  .object({
    ...resolutionShape,
    /**
     * Further resolutions, each with a memory of its own (same memory settings); the
     * memory part's surprise is then the largest of theirs minus log10 of their number
     * (the fusion rule of src/scoring/fusion.ts). Empty: one resolution.
     */
    also: z.array(resolutionSpecSchema).default([]),
  })
  .strict();

export const fusionPartSchema = z.enum(['network', 'memory', 'residual']);

export const fusionSchema = z
  .object({
    /**
     * The calibrated surprises that make the reported score: the max over the parts minus
     * log10(number of parts) (src/scoring/fusion.ts). network: the model's calibrated
     * reconstruction error; residual: the pooled signed residual, calibrated on the model's
     * held-out windows; memory: the window memory's diffusion score, calibrated on its own
     * windows scored against their non-overlapping neighbours. ['network'] alone reports
     * the model's own scores unchanged.
     */
    parts: z.array(fusionPartSchema).min(1).default(['network']),
  })
  .strict();

export const evaluateSectionSchema = z
  .object({
    postprocess: postprocessSchema.default(postprocessSchema.parse({})),
    adaptation: adaptationSchema.default(adaptationSchema.parse({})),
    baselines: baselinesSchema.default(baselinesSchema.parse({})),
    memory: memorySchema.default(memorySchema.parse({})),
    fusion: fusionSchema.default(fusionSchema.parse({})),
    /** Time resolution of the window memory (a NAB streaming choice of issue 11; report time, like the memory). */
    resolution: resolutionSchema.default(resolutionSchema.parse({})),
    /** labelled-csv: name of the 0/1 label column (never given to the model). */
    labelColumn: z.string().min(1).default('label'),
    /** labelled-csv without a `<name>_train.csv`: the first fraction of rows is the training data. */
    trainFraction: z.number().gt(0).lt(1).default(0.3),
    /** VUS buffer (maximum range extension) in rows. */
    vusMaxBuffer: z.number().int().min(0).default(64),
  })
  .strict();

export const evaluateConfigSchema = coreConfigSchema.extend({
  evaluate: evaluateSectionSchema.default(evaluateSectionSchema.parse({})),
});

export type EvaluateConfig = z.infer<typeof evaluateConfigSchema>;
export type EvaluateSection = z.infer<typeof evaluateSectionSchema>;
export type PostprocessConfig = z.infer<typeof postprocessSchema>;
export type MemoryConfig = z.infer<typeof memorySchema>;
export type FusionPart = z.infer<typeof fusionPartSchema>;
export type ResolutionConfig = z.infer<typeof resolutionSchema>;
export type ResolutionSpec = z.infer<typeof resolutionSpecSchema>;
export type AdaptationConfig = z.infer<typeof adaptationSchema>;
