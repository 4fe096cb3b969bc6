import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioFeaturesRecord, audioSchema, type AudioConfig } from '../../src/config/audio.js';
import { coreConfigSchema } from '../../src/config/core.js';
import { daemonConfigSchema } from '../../src/config/daemon.js';
import { ConfigError } from '../../src/util/errors.js';
import { featurizerFor, signalKindOf, trainingFeaturizer, trainingKindOf } from '../../src/features/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nf-featurizer-'));
  await writeFile(path.join(dir, 'audio.yaml'), 'audio:\n  nMels: 16\n  frames: 8\ntrain:\n  epochs: 3\n');
  await writeFile(path.join(dir, 'core.yaml'), 'train:\n  epochs: 3\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('featurizerFor: the one place a signal kind is chosen', () => {
  it('reads the kind from a model manifest (no features: time series)', () => {
    const audio = audioFeaturesRecord(audioSchema.parse({}), [1, 2]);
    expect(signalKindOf({ features: undefined })).toBe('timeseries');
    expect(signalKindOf({ features: audio })).toBe('audio');
    expect(featurizerFor({ manifest: { features: audio } })).toMatchObject({ kind: 'audio', features: audio });
  });

  it('trains audio for a config with an audio section or only WAV inputs, time series otherwise', async () => {
    expect(await trainingKindOf(['a.csv'], undefined)).toBe('timeseries');
    expect(await trainingKindOf(['a.wav', 'b.WAV'], undefined)).toBe('audio');
    expect(await trainingKindOf(['a.wav', 'b.csv'], undefined)).toBe('timeseries');
    expect(await trainingKindOf(['a.csv'], path.join(dir, 'audio.yaml'))).toBe('audio');
    expect(await trainingKindOf(['a.wav'], path.join(dir, 'core.yaml'))).toBe('audio');
    expect(await trainingKindOf([], path.join(dir, 'core.yaml'))).toBe('timeseries');
  });

  it('applies command-line overrides to a new config and records the feature settings for the manifest', async () => {
    const audio = await trainingFeaturizer(['x.wav'], path.join(dir, 'audio.yaml'), { epochs: 7 });
    expect(audio.kind).toBe('audio');
    expect(audio.warmStart).toBe(false);
    expect(audio.config.train.epochs).toBe(7);
    expect(audio.features).toMatchObject({ kind: 'audio-logmel', audio: { nMels: 16, frames: 8 } });
    expect(audio.features?.bandHz).toHaveLength(16);
    const ts = await trainingFeaturizer(['x.csv'], path.join(dir, 'core.yaml'), { seed: 5 });
    expect(ts.kind).toBe('timeseries');
    expect(ts.warmStart).toBe(true);
    expect(ts.features).toBeUndefined();
    expect(ts.config.train).toMatchObject({ epochs: 3, seed: 5 });
    // Frozen once validated: nothing downstream changes it.
    expect(Object.isFrozen(ts.config) && Object.isFrozen(ts.config.train) && Object.isFrozen((audio.config as AudioConfig).audio.loudness)).toBe(true);
    // Built from a validated config, not by mutating one.
    const validated = coreConfigSchema.parse({});
    const f = featurizerFor({ config: validated });
    expect(f.config).toBe(validated);
  });
});

describe('featurizerFor(manifest).streaming: how serve feeds the model', () => {
  const audio = audioFeaturesRecord(audioSchema.parse({ sampleRate: 16000, channel: 'mix' }), []);

  it('time series uses the registry\'s own step slots', () => {
    expect(featurizerFor({ manifest: { features: undefined } }).streaming(daemonConfigSchema.parse({}))).toBeNull();
  });

  it('audio needs Kafka PCM records, and takes the input rate and channel from the daemon config', () => {
    const f = featurizerFor({ manifest: { features: audio } });
    let err: unknown;
    try {
      f.streaming(daemonConfigSchema.parse({}));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.join('\n')).toMatch(/source: an audio model is served from Kafka PCM messages/);
    const kafka = { brokers: ['localhost:9092'], topics: ['pcm'], groupId: 'g', decoder: { format: 'pcm', sample: 's16le', channels: 2 } };
    const s = f.streaming(daemonConfigSchema.parse({ source: { kafka }, audio: { sampleRate: 48000, channel: 1 } }));
    expect(s?.kind).toBe('audio');
    expect(s?.inputRate).toBe(48000);
    expect(s?.describe()).toEqual({ audio: { inputRate: 48000, modelRate: 16000, channel: 1, resampled: true } });
  });
});
