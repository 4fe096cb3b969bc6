/**
 * What a `score --config` may change. A model fixes its channels, window length,
 * network and training; scoring settings, the hop, the false-alarm rate, the runtime and
 * how files are read can change at scoring time. Every key the file sets explicitly is
 * either applied or refused with a message: none is validated and then silently ignored.
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { CoreConfig, ScoringConfig } from '../config/core.js';
import type { Manifest } from '../model/artifact.js';
import { ConfigError } from '../util/errors.js';

export interface ScoreSettings {
  scoring: Partial<ScoringConfig>;
  hop?: number;
  targetFalseAlarmRate?: number;
  /** Applied changes a person should know about (stderr). */
  notes: string[];
}

/** The keys a config file sets itself (defaults excluded), as section -> key -> value. */
export async function explicitKeys(file: string | undefined): Promise<Record<string, Record<string, unknown>>> {
  if (!file) return {};
  const raw = YAML.parse(await readFile(file, 'utf8')) as unknown;
  if (!raw || typeof raw !== 'object') return {};
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, v] of Object.entries(raw)) if (v && typeof v === 'object' && !Array.isArray(v)) out[section] = v as Record<string, unknown>;
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Scoring settings that change the raw score's distribution, which the calibration was fitted on. */
const CALIBRATION_SENSITIVE: (keyof ScoringConfig)[] = ['mode', 't0', 'steps', 'samples', 'likelihoodTs', 'seed'];

export function scoreSettingsFrom(explicit: Record<string, Record<string, unknown>>, config: CoreConfig, manifest: Manifest): ScoreSettings {
  const refused: string[] = [];
  const notes: string[] = [];
  const settings: ScoreSettings = { scoring: {}, notes };
  const fixed = (key: string, value: unknown, model: unknown) => {
    if (!same(value, model)) refused.push(`${key}: ${JSON.stringify(value)}, but the model was trained with ${JSON.stringify(model)}; it is fixed at training (train a new model to change it)`);
  };
  for (const [k, v] of Object.entries(explicit.data ?? {})) {
    if (k === 'channels') fixed('data.channels', v, manifest.channels);
    else if (k === 'exclude') {
      const used = (v as string[]).filter((c) => manifest.channels.includes(c));
      if (used.length) refused.push(`data.exclude: the model reads ${used.join(', ')} as channels; channels are fixed at training`);
    }
    // delimiter, header, timestampColumn, format: applied by the reader.
  }
  for (const [k, v] of Object.entries(explicit.window ?? {})) {
    if (k === 'length') fixed('window.length', v, manifest.window.length);
    else if (k === 'hop' && v !== manifest.window.hop) {
      settings.hop = config.window.hop;
      notes.push(`window.hop ${config.window.hop} (the model's default is ${manifest.window.hop})`);
    }
  }
  const modelNow: Record<string, unknown> = { ...manifest.denoiser, T: manifest.schedule.T, schedule: manifest.schedule.kind };
  for (const [k, v] of Object.entries(explicit.model ?? {})) fixed(`model.${k}`, v, modelNow[k]);
  const trained = (manifest.training.config ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(explicit.train ?? {})) if (k in trained) fixed(`train.${k}`, v, trained[k]);
  else refused.push(`train.${k}: used by train only`);
  for (const [k, v] of Object.entries(explicit.calibration ?? {})) {
    if (k === 'targetFalseAlarmRate') {
      if (!manifest.calibration) refused.push('calibration.targetFalseAlarmRate: the model has no calibration');
      else if (v !== manifest.calibration.targetFalseAlarmRate) {
        settings.targetFalseAlarmRate = config.calibration.targetFalseAlarmRate;
        notes.push(`threshold for a false-alarm rate of ${config.calibration.targetFalseAlarmRate} (the model's: ${manifest.calibration.targetFalseAlarmRate}), from its stored calibration`);
      }
    } else refused.push(`calibration.${k}: fixed when the model was calibrated at training`);
  }
  const changed: string[] = [];
  for (const k of Object.keys(explicit.scoring ?? {}) as (keyof ScoringConfig)[]) {
    if (!(k in config.scoring)) continue;
    const value = config.scoring[k];
    if (same(value, manifest.scoring[k])) continue;
    (settings.scoring as Record<string, unknown>)[k] = value;
    if (CALIBRATION_SENSITIVE.includes(k)) changed.push(`scoring.${k} ${JSON.stringify(value)} (model: ${JSON.stringify(manifest.scoring[k])})`);
    else notes.push(`scoring.${k} ${JSON.stringify(value)}`);
  }
  if (changed.length)
    notes.push(
      `${changed.join(', ')}: raw scores use these settings, but the calibration (score, anomaly) was fitted with the model's; ` +
        'calibrated scores and flags may be off: compare raw scores, or train with these settings',
    );
  if (refused.length) throw new ConfigError('these settings cannot apply when scoring with an existing model', refused);
  return settings;
}
