import { describe, expect, it } from 'vitest';
import { featuresManifestSchema, manifestSchema } from '../../src/model/artifact.js';
import { AUDIO_FEATURES_KIND, audioFeaturesRecord, audioSchema, audioSettingsFromFeatures } from '../../src/config/audio.js';
import { bandCentresHz } from '../../src/features/audio/features.js';

describe('manifest features union', () => {
  it('reads an audio features record back as typed settings, keeping extra fields', () => {
    const audio = audioSchema.parse({ nMels: 16, frames: 8 });
    const rec = { ...audioFeaturesRecord(audio, [100, 200]), clipCalibration: { version: 1 } };
    const parsed = featuresManifestSchema.parse(JSON.parse(JSON.stringify(rec)));
    expect(parsed.kind).toBe(AUDIO_FEATURES_KIND);
    expect(parsed.bandHz).toEqual([100, 200]);
    expect(parsed.clipCalibration).toEqual({ version: 1 });
    expect(audioSettingsFromFeatures(parsed)).toEqual(audio);
  });

  it('refuses a signal kind this noisefloor does not know, and bad audio settings', () => {
    expect(featuresManifestSchema.safeParse({ kind: 'vibration-spectra', version: 1 }).success).toBe(false);
    const bad = { ...audioFeaturesRecord(audioSchema.parse({}), []), audio: { nFft: 1000 } };
    const res = featuresManifestSchema.safeParse(bad);
    expect(res.success).toBe(false);
    expect(res.error?.issues.map((i) => i.path.join('.'))).toContain('audio.nFft');
  });

  it('reads a model saved before melScale existed as Slaney (its filterbank unchanged); htk is another bank', () => {
    const audio = audioSchema.parse({ nMels: 64 });
    const { melScale, ...before } = audio;
    expect(melScale).toBe('slaney');
    const parsed = featuresManifestSchema.parse(JSON.parse(JSON.stringify({ ...audioFeaturesRecord(audio, []), audio: before })));
    const read = audioSettingsFromFeatures(parsed)!;
    expect(read.melScale).toBe('slaney');
    expect(bandCentresHz(read)).toEqual(bandCentresHz(audio));
    const htk = bandCentresHz(audioSchema.parse({ nMels: 64, melScale: 'htk' }));
    // HTK puts more, narrower bands at the low end.
    expect(htk[3]).toBeLessThan(bandCentresHz(audio)[3]);
    expect(htk.filter((hz) => hz < 300).length).toBeGreaterThan(bandCentresHz(audio).filter((hz) => hz < 300).length);
  });

  it('leaves features optional (time-series models have none)', () => {
    expect(manifestSchema.shape.features.safeParse(undefined).success).toBe(true);
    expect(audioSettingsFromFeatures(undefined)).toBeNull();
  });
});
