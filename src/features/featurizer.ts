/**
 * One signal kind (time series, audio, ...): how its recorded or streamed input becomes
 * model windows [C, W], and what the model manifest keeps about it. Each kind lives in its
 * own folder, src/features/<kind>/; src/features/index.ts `featurizerFor` is the one place
 * a kind is chosen (from a model's manifest, or from a training config). Adding a kind is
 * one new folder, one member of the manifest's `features` union (src/model/artifact.ts) and
 * one line in featurizerFor.
 */
import type { CoreConfig } from '../config/core.js';
import type { DaemonConfig } from '../config/daemon.js';
import type { PcmDecoderConfig, RawMessage } from '../ingest/decoders.js';
import type { Window } from '../ingest/types.js';
import type { Detector } from '../scoring/detector.js';
import type { ScoreEvent } from '../scoring/types.js';
import type { SampleSlot, SlotLane, StreamState } from './slot.js';
import type { FeaturesManifest } from '../model/artifact.js';
import type { TrainProgress } from '../model/trainer.js';
import type { CollectedWindows, TrainJobResult } from '../jobs/train.js';
import type { Logger } from '../util/log.js';

export const SIGNAL_KINDS = ['timeseries', 'audio'] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];

/** What every featurizer says about itself. */
export interface Featurizer {
  readonly kind: SignalKind;
  /** The feature settings the model manifest stores (`features`); undefined when the kind stores none. */
  readonly features: FeaturesManifest | undefined;
}

/** A featurizer read from a model's manifest (featurizerFor({ manifest })). */
export interface ModelFeaturizer extends Featurizer {
  /**
   * How `serve` feeds this model: null for time series (decoded records of numeric
   * channels; the stream registry's own step slots), else a sampled-signal stream. Throws
   * ConfigError when the configured source cannot feed the model.
   */
  streaming(config: DaemonConfig): SampledStreaming | null;
}

/** One decoded record of a sampled signal: mono samples at the input rate. */
export interface SampleMessage {
  stream: string;
  /** Epoch ms of the first sample, when the record had a timestamp. */
  ts?: number;
  samples: Float32Array;
}

/** How `serve` turns PCM records of a sampled-signal kind (audio, ...) into scored windows. */
export interface SampledStreaming {
  readonly kind: SignalKind;
  /** Sample rate (Hz) of the incoming records. */
  readonly inputRate: number;
  /** Decodes one PCM record (throws DecodeError for bad input). */
  decoder(cfg: PcmDecoderConfig): (msg: RawMessage) => SampleMessage;
  /** The slot of a stream new on a lane (`from`: its restored or parked state). */
  slot(lane: SlotLane, stream: string, from: StreamState | undefined, now: number): SampleSlot;
  /** Scores a batch of windows into events (with any per-stream statistics of the kind). */
  scoreEvents(det: Detector, windows: Window[]): Promise<ScoreEvent[]>;
  /** What the start-up log says about the input. */
  describe(): Record<string, unknown>;
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
