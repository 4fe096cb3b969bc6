/**
 * Settings of `noisefloor evaluate`: the core settings every command shares (window,
 * model, train, scoring, calibration, runtime) plus an `evaluate` section for what only a
 * benchmark run needs (post-processing of NAB, online adaptation, baselines). One file
 * per corpus, chosen once for the whole corpus (see docs/evaluation.md).
 */
import { z } from 'zod';
import { coreConfigSchema } from '../config/core.js';

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

export const evaluateSectionSchema = z
  .object({
    postprocess: postprocessSchema.default(postprocessSchema.parse({})),
    adaptation: adaptationSchema.default(adaptationSchema.parse({})),
    baselines: baselinesSchema.default(baselinesSchema.parse({})),
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
export type AdaptationConfig = z.infer<typeof adaptationSchema>;
