/**
 * One signal kind (time series, audio, ...): how its recorded or streamed input becomes
 * model windows [C, W], and what the model manifest keeps about it. Each kind lives in its
 * own folder, src/features/<kind>/; src/features/index.ts `featurizerFor` is the one place
 * a kind is chosen (from a model's manifest, or from a training config). Adding a kind is
 * one new folder, one member of the manifest's `features` union (src/model/artifact.ts) and
 * one line in featurizerFor.
 */
import type { CoreConfig } from '../config/core.js';
import type { FeaturesManifest } from '../model/artifact.js';
import type { TrainProgress } from '../model/trainer.js';
import type { CollectedWindows, TrainJobResult } from '../pipeline/train.js';
import type { Logger } from '../util/log.js';

export const SIGNAL_KINDS = ['timeseries', 'audio'] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];

/** What every featurizer says about itself. */
export interface Featurizer {
  readonly kind: SignalKind;
  /** The feature settings the model manifest stores (`features`); undefined when the kind stores none. */
  readonly features: FeaturesManifest | undefined;
}

/** One training run's inputs other than the config. */
export interface TrainRun {
  files: string[];
  outDir: string;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Warm start from a model of the same spec (only where `warmStart`). */
  init?: { dir: string; refitNormaliser: boolean };
}

/** A featurizer bound to a validated training config (featurizerFor({ config })). */
export interface TrainingFeaturizer extends Featurizer {
  /** The config training runs with (frozen). */
  readonly config: Readonly<CoreConfig>;
  /** Whether `train` can continue from an existing model (TrainRun.init). */
  readonly warmStart: boolean;
  /** Training windows from recorded files (reservoir-sampled, with the normaliser fitted on them). */
  collect(files: string[], log: Logger): Promise<CollectedWindows>;
  /** Trains on recorded files and writes the model directory (manifest `features` included). */
  train(run: TrainRun): Promise<TrainJobResult>;
  /** What was trained, for the person who ran it (one or two lines, no trailing newline). */
  describe(job: TrainJobResult, files: string[], outDir: string): string;
}
