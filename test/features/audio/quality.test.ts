/**
 * Audio detection quality against the trivial audio detectors: the clip's RMS level and the
 * distance of its mean log-mel spectrum to the training clips' mean (meanSpectrumDistance in
 * test/support/trivial-detectors.ts). The tone-at-equal-loudness case of model.test.ts is
 * found by the mean spectrum too (an added tone moves it), so it shows plumbing, not learning.
 *
 * Here the anomaly keeps the mean spectrum by construction: normal machines sweep a tone
 * upwards (400 -> 1600 Hz every 0.4 s, sawtooth) over a harmonic hum; the anomalous clip is a
 * normal clip played backwards (downward sweeps). A frame's magnitude spectrum does not change
 * under time reversal (symmetric window), so the set of log-mel frames, the mean spectrum and
 * the RMS level are those of a normal clip; only the order of frames inside a window differs.
 * The model must clear the bar and beat both trivial detectors; each must fail the bar; a
 * model after one training step must fail it too.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioSettingsFromFeatures } from '../../../src/features/audio/config.js';
import { fileWindows } from '../../../src/features/audio/features.js';
import { scoreClip } from '../../../src/features/audio/score.js';
import { runAudioTrainJob } from '../../../src/features/audio/train.js';
import { aucRoc } from '../../../src/eval/metrics.js';
import { Detector } from '../../../src/scoring/detector.js';
import { silentLogger } from '../../../src/util/log.js';
import { Rng } from '../../../src/util/rng.js';
import { meanSpectrumDistance } from '../../support/trivial-detectors.js';
import { SR, tinyAudioConfig, toInt16, writeClip } from '../../support/audio-clips.js';

const BAR = 0.9;
const BEAT_MARGIN = 0.15;
const RMS = 0.05;

/** Hum (100 Hz, 3 harmonics) plus an upward sawtooth sweep and noise, scaled to RMS; `reversed` plays it backwards. */
function sweepClip(seed: number, reversed: boolean, seconds = 2): Float32Array {
  const rng = new Rng(seed);
  const n = Math.round(seconds * SR);
  const x = new Float32Array(n);
  const sweepPeriod = 0.4;
  const offset = rng.next() * sweepPeriod;
  const humPhases = [0, 1, 2].map(() => 2 * Math.PI * rng.next());
  let phase = 2 * Math.PI * rng.next();
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    const f = 400 + 1200 * (((t + offset) % sweepPeriod) / sweepPeriod);
    phase += (2 * Math.PI * f) / SR;
    let v = 0.2 * Math.sin(phase);
    for (let h = 0; h < 3; h++) v += (0.3 / (h + 1)) * Math.sin(2 * Math.PI * 100 * (h + 1) * t + humPhases[h]);
    x[i] = v + 0.03 * rng.normal();
  }
  let s = 0;
  for (const v of x) s += v * v;
  const g = RMS / Math.sqrt(s / n);
  for (let i = 0; i < n; i++) x[i] *= g;
  if (reversed) x.reverse();
  return x;
}

const dir = mkdtempSync(path.join(tmpdir(), 'nf-audio-quality-'));
const train: string[] = [];
const normal: string[] = [];
const reversed: string[] = [];
let model: Detector;
let weak: Detector;

/** Log-mel frames of a clip (no loudness normalisation), from the model's own windower settings. */
async function frames(file: string, det: Detector): Promise<Float32Array[]> {
  const a = audioSettingsFromFeatures(det.model.manifest.features)!;
  const settings = { ...a, loudness: { ...a.loudness, mode: 'none' as const } };
  const out: Float32Array[] = [];
  // Non-overlapping windows (hopFrames = frames): every frame once.
  for await (const batch of fileWindows(file, settings, { hopFrames: a.frames }))
    for (const w of batch) for (let i = 0; i < w.length; i++) out.push(Float32Array.from({ length: w.channels }, (_, c) => w.data[c * w.length + i]));
  return out;
}

beforeAll(async () => {
  for (const d of ['train', 'normal', 'reversed']) mkdirSync(path.join(dir, d));
  for (let i = 0; i < 6; i++) train.push(writeClip(path.join(dir, 'train'), `n${i}.wav`, toInt16(sweepClip(100 + i, false))));
  for (let i = 0; i < 6; i++) {
    normal.push(writeClip(path.join(dir, 'normal'), `n${i}.wav`, toInt16(sweepClip(200 + i, false))));
    reversed.push(writeClip(path.join(dir, 'reversed'), `r${i}.wav`, toInt16(sweepClip(300 + i, true))));
  }
  const config = tinyAudioConfig({ loudness: { mode: 'window', targetDb: -20 } });
  await runAudioTrainJob({ files: train, outDir: path.join(dir, 'model'), config, log: silentLogger });
  const weakConfig = tinyAudioConfig({ loudness: { mode: 'window', targetDb: -20 } }, { train: { ...config.train, epochs: 1, stepsPerEpoch: 1 } });
  await runAudioTrainJob({ files: train, outDir: path.join(dir, 'weak'), config: weakConfig, log: silentLogger });
  model = await Detector.open(path.join(dir, 'model'), { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
  weak = await Detector.open(path.join(dir, 'weak'), { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
}, 300_000);

afterAll(async () => {
  await model?.close();
  await weak?.close();
  rmSync(dir, { recursive: true, force: true });
});

const labels = () => [...normal.map(() => 0), ...reversed.map(() => 1)];

async function clipAuc(det: Detector): Promise<{ auc: number; levelAuc: number }> {
  const scores = [];
  for (const f of [...normal, ...reversed]) scores.push(await scoreClip(f, det));
  return {
    auc: aucRoc(
      scores.map((s) => s.raw),
      labels(),
    ),
    levelAuc: aucRoc(
      scores.map((s) => s.levelDb),
      labels(),
    ),
  };
}

describe('audio quality: time-reversed machine sound (same mean spectrum, same level)', () => {
  it('the model clears the bar and beats the RMS level and the mean-spectrum distance; each of them fails the bar', async () => {
    const distance = meanSpectrumDistance(await Promise.all(train.map((f) => frames(f, model))));
    const spectral = [];
    for (const f of [...normal, ...reversed]) spectral.push(distance(await frames(f, model)));
    const meanSpectrumAuc = aucRoc(spectral, labels());
    const { auc, levelAuc } = await clipAuc(model);
    // Level in either direction: a detector may flag louder or quieter clips.
    const levelBest = Math.max(levelAuc, 1 - levelAuc);
    console.log(`audio quality (reversed sweep): model ${auc.toFixed(3)}, mean spectrum ${meanSpectrumAuc.toFixed(3)}, RMS level ${levelBest.toFixed(3)}`);
    expect(auc).toBeGreaterThanOrEqual(BAR);
    for (const [name, t] of [
      ['mean-spectrum distance', meanSpectrumAuc],
      ['RMS level', levelBest],
    ] as const) {
      expect(t, `${name} must fail the bar`).toBeLessThan(BAR);
      expect(auc - t, `model beats ${name} by >= ${BEAT_MARGIN}`).toBeGreaterThanOrEqual(BEAT_MARGIN);
    }
  });

  it('a model after one training step falls below the bar', async () => {
    const { auc } = await clipAuc(weak);
    console.log(`audio quality (reversed sweep): one-step model ${auc.toFixed(3)}`);
    expect(auc).toBeLessThan(BAR);
  });
});
