/**
 * The one place a signal kind is chosen: from a model's manifest (score, serve) or from a
 * training config and its input files (train). Everything else asks the featurizer.
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { AUDIO_FEATURES_KIND, audioConfigSchema, audioSettingsFromFeatures, type AudioConfig } from '../config/audio.js';
import { coreConfigSchema, type CoreConfig } from '../config/core.js';
import { loadConfigFile } from '../config/load.js';
import type { Manifest } from '../model/artifact.js';
import { deepFreeze } from '../util/freeze.js';
import type { ModelFeaturizer, SignalKind, TrainingFeaturizer } from './featurizer.js';
import { AudioFeaturizer } from './audio/index.js';
import { audioStreaming } from './audio/streaming.js';
import { TimeSeriesFeaturizer } from './timeseries/index.js';

export type { Featurizer, ModelFeaturizer, SampledStreaming, SampleMessage, SignalKind, TrainingFeaturizer, TrainRun } from './featurizer.js';

/** The signal kind a model was trained on (manifest `features.kind`; none: time series). */
export function signalKindOf(manifest: Pick<Manifest, 'features'>): SignalKind {
  switch (manifest.features?.kind) {
    case AUDIO_FEATURES_KIND:
      return 'audio';
    case undefined:
      return 'timeseries';
  }
}

/** The featurizer of a model (its feature settings as the manifest stores them). */
export function featurizerFor(source: { manifest: Pick<Manifest, 'features'> }): ModelFeaturizer;
/** The featurizer a validated training config trains with (an `audio` section: audio). */
export function featurizerFor(source: { config: CoreConfig | AudioConfig }): TrainingFeaturizer;
export function featurizerFor(source: { manifest: Pick<Manifest, 'features'> } | { config: CoreConfig | AudioConfig }): ModelFeaturizer | TrainingFeaturizer {
  if ('config' in source) return 'audio' in source.config ? new AudioFeaturizer(source.config as AudioConfig) : new TimeSeriesFeaturizer(source.config);
  const features = source.manifest.features;
  switch (signalKindOf(source.manifest)) {
    case 'audio': {
      const settings = audioSettingsFromFeatures(features)!;
      return { kind: 'audio', features, streaming: (config) => audioStreaming(settings, config) };
    }
    case 'timeseries':
      return { kind: 'timeseries', features, streaming: () => null };
  }
}

const isWav = (f: string) => /\.wav$/i.test(f);

/**
 * The kind a training run is: a config file with an `audio` section, or only .wav inputs,
 * train audio; anything else trains time series.
 */
export async function trainingKindOf(files: string[], configFile: string | undefined): Promise<SignalKind> {
  if (configFile) {
    try {
      const raw = YAML.parse(await readFile(configFile, 'utf8')) as unknown;
      if (raw && typeof raw === 'object' && 'audio' in raw) return 'audio';
    } catch {
      /* the config loader reports unreadable configs */
    }
  }
  return files.length > 0 && files.every(isWav) ? 'audio' : 'timeseries';
}

/** Training settings given on the command line; they win over the config file. */
export interface TrainOverrides {
  epochs?: number;
  seed?: number;
}

/**
 * Reads and validates the training config with the schema of the run's kind, applies the
 * overrides to a new object (the validated one is not mutated), freezes it and returns the
 * featurizer.
 */
export async function trainingFeaturizer(files: string[], configFile: string | undefined, overrides: TrainOverrides = {}): Promise<TrainingFeaturizer> {
  const kind = await trainingKindOf(files, configFile);
  const loaded: CoreConfig | AudioConfig = kind === 'audio' ? await loadConfigFile(audioConfigSchema, configFile) : await loadConfigFile(coreConfigSchema, configFile);
  const train = { ...loaded.train };
  if (overrides.epochs !== undefined) train.epochs = overrides.epochs;
  if (overrides.seed !== undefined) train.seed = overrides.seed;
  return featurizerFor({ config: deepFreeze({ ...loaded, train }) });
}
