import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipCalibrationFrom } from '../../../src/features/audio/clip-stats.js';
import { AudioEventScorer, pooledScore } from '../../../src/features/audio/horizon.js';
import { AudioStreams } from '../../../src/features/audio/stream.js';
import { readWav } from '../../../src/ingest/audio/index.js';
import type { Window } from '../../../src/ingest/types.js';
import type { ScoreEvent } from '../../../src/scoring/types.js';
import { Rng } from '../../../src/util/rng.js';
import { audioSettingsFromFeatures, AUDIO_FEATURES_KIND, DEFAULT_CLIP_STATISTICS } from '../../../src/features/audio/config.js';
import { aggregateScores, audioSettingsOf, labelFromPath, lookupLabel, readLabelsCsv, scoreClip, type ClipScore } from '../../../src/features/audio/score.js';
import { runAudioTrainJob } from '../../../src/features/audio/train.js';
import { aucRoc } from '../../../src/eval/metrics.js';
import { readManifest } from '../../../src/model/artifact.js';
import { Detector } from '../../../src/scoring/detector.js';
import { silentLogger } from '../../../src/util/log.js';
import { cliPath } from '../../support/core.js';
import { machineClip, tinyAudioConfig, toInt16, writeClip } from '../../support/audio-clips.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nf-audio-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RMS = 0.05;
const trainFiles: string[] = [];
const normalTest: string[] = [];
const abnormalTest: string[] = [];
const louder: string[] = [];

beforeAll(() => {
  for (const d of ['train', 'test/normal', 'test/abnormal', 'louder']) mkdirSync(path.join(dir, d), { recursive: true });
  for (let i = 0; i < 6; i++) trainFiles.push(writeClip(path.join(dir, 'train'), `n${i}.wav`, toInt16(machineClip({ seed: 100 + i, rms: RMS }))));
  for (let i = 0; i < 5; i++) {
    normalTest.push(writeClip(path.join(dir, 'test/normal'), `n${i}.wav`, toInt16(machineClip({ seed: 200 + i, rms: RMS }))));
    // Spectral change at the same loudness: an extra 1.3 kHz tone, rescaled to the same RMS.
    abnormalTest.push(writeClip(path.join(dir, 'test/abnormal'), `a${i}.wav`, toInt16(machineClip({ seed: 300 + i, tone: 1300, toneRel: 0.6, rms: RMS }))));
    // Level-only change: the normal clip exactly 4x louder (+12 dB; int16 codes times 4).
    louder.push(writeClip(path.join(dir, 'louder'), `n${i}.wav`, toInt16(machineClip({ seed: 200 + i, rms: RMS })).map((c) => 4 * c)));
  }
});

async function trainAndOpen(name: string, loudness: 'none' | 'window'): Promise<Detector> {
  const out = path.join(dir, name);
  await runAudioTrainJob({ files: trainFiles, outDir: out, config: tinyAudioConfig({ loudness: { mode: loudness, targetDb: -20 } }), log: silentLogger });
  return Detector.open(out, { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
}

async function scoreAll(det: Detector, files: string[]): Promise<ClipScore[]> {
  const out: ClipScore[] = [];
  for (const f of files) out.push(await scoreClip(f, det));
  return out;
}

describe('audio model (tiny, synthetic)', () => {
  let win: Detector;
  let none: Detector;
  beforeAll(async () => {
    win = await trainAndOpen('model-window', 'window');
    none = await trainAndOpen('model-none', 'none');
  });
  afterAll(async () => {
    await win?.close();
    await none?.close();
  });

  it('keeps the audio settings in the manifest and scores with them', async () => {
    const m = await readManifest(path.join(dir, 'model-window'));
    expect(m.features?.kind).toBe(AUDIO_FEATURES_KIND);
    const a = audioSettingsFromFeatures(m.features);
    expect(a).toEqual(tinyAudioConfig({ loudness: { mode: 'window', targetDb: -20 } }).audio);
    expect(m.channels).toHaveLength(16);
    expect(m.channels[0]).toMatch(/^mel0@\d+Hz$/);
    expect(m.window).toEqual({ length: 8, hop: 4 });
    expect(m.denoiser.channels).toBe(16);
    expect((m.features?.bandHz as number[]).length).toBe(16);
    expect(audioSettingsFromFeatures((await readManifest(path.join(dir, 'model-none'))).features)?.loudness.mode).toBe('none');
  });

  // An added tone moves the clip's mean log-mel spectrum: the mean-spectrum distance finds it
  // as well, so this checks ranking, explanations and loudness handling; the audio quality
  // evidence (the model against the trivial detectors) is test/features/audio/quality.test.ts.
  it('ranks a spectral change at the same loudness above normal clips (AUC >= 0.9), with explanations', async () => {
    for (const det of [win, none]) {
      const n = await scoreAll(det, normalTest);
      const a = await scoreAll(det, abnormalTest);
      const scores = [...n, ...a].map((c) => c.raw);
      const labels = [...n.map(() => 0), ...a.map(() => 1)];
      expect(aucRoc(scores, labels)).toBeGreaterThanOrEqual(0.9);
      // The same loudness: the RMS baseline cannot tell them apart.
      for (const c of [...n, ...a]) expect(c.levelDb).toBeCloseTo(20 * Math.log10(RMS), 0);
      // Explanation: the band holding 1.3 kHz has the largest error in abnormal clips.
      const bandHz = (det.model.manifest.features?.bandHz as number[]) ?? [];
      const top = a[0].topBand;
      expect(Math.abs(bandHz[top] - 1300)).toBeLessThan(400);
      expect(a[0].bandErrors).toHaveLength(16);
      expect(a[0].frameErrors.length).toBe(a[0].frames);
      expect(a[0].windowRaws.length).toBe(a[0].windows);
      expect(a[0].frameErrors.filter((v) => Number.isFinite(v)).length).toBeGreaterThan(a[0].frames - 8);
    }
  });

  it('window loudness normalisation makes a level-only change undetectable; without it the change is detected', async () => {
    const base = await scoreAll(win, normalTest);
    const loud = await scoreAll(win, louder);
    loud.forEach((c, i) => {
      expect(c.levelDb - base[i].levelDb).toBeCloseTo(20 * Math.log10(4), 2);
      expect(Math.abs(c.raw - base[i].raw)).toBeLessThan(1e-3 * base[i].raw + 1e-6);
    });
    const nBase = await scoreAll(none, normalTest);
    const nLoud = await scoreAll(none, louder);
    const auc = aucRoc([...nBase, ...nLoud].map((c) => c.raw), [...nBase.map(() => 0), ...nLoud.map(() => 1)]);
    expect(auc).toBe(1);
    nLoud.forEach((c, i) => expect(c.raw).toBeGreaterThan(1.3 * nBase[i].raw));
  });
});

describe('clip statistics of a trained model (calibrated on held-out normal windows)', () => {
  let det: Detector;
  beforeAll(async () => {
    det = await Detector.open(path.join(dir, 'model-window'), { provider: 'cpu', intraOpThreads: 1 }, silentLogger);
  });
  afterAll(async () => {
    await det?.close();
  });

  it('the manifest holds a clip calibration fitted on training clips set aside from training', async () => {
    const m = await readManifest(path.join(dir, 'model-window'));
    const cal = clipCalibrationFrom(m.features);
    expect(cal).not.toBeNull();
    // calibrationClips 0.3 of 6 files: 3 set aside (evenly spaced), each cut into 4 reference segments.
    const setAside = (m.features?.clipCalibration as { files: string[] }).files;
    expect(setAside).toEqual(['n1.wav', 'n3.wav', 'n5.wav']);
    expect(m.training.files).toEqual(['n0.wav', 'n2.wav', 'n4.wav']);
    expect(cal!.segments).toBe(12);
    expect(cal!.residual.mean).toHaveLength(16);
    expect(cal!.use).toEqual(tinyAudioConfig().audio.clipScores);
    expect(cal!.level.mean).toBeCloseTo(20 * Math.log10(RMS), 0);
  });

  it('flags a louder machine by its level and a changed spectrum at the same level; normal clips stay unflagged', async () => {
    const n = await scoreAll(det, normalTest);
    const a = await scoreAll(det, abnormalTest);
    const loud = await scoreAll(det, louder);
    for (const c of n) expect(c.anomaly).toBe(false);
    for (const c of loud) expect(c.stats).toMatchObject({ anomaly: true, top: 'level' });
    for (const c of a) expect(c.anomaly).toBe(true);
    // The combined score ranks both kinds above every normal clip, and `score` is its 1 − p.
    const labels = [...n.map(() => 0), ...a.map(() => 1), ...loud.map(() => 1)];
    expect(aucRoc([...n, ...a, ...loud].map((c) => c.rank), labels)).toBe(1);
    for (const c of [...n, ...a, ...loud]) expect(c.score).toBeCloseTo(c.stats!.combinedScore, 12);
  });

  it('serve\'s horizon statistics equal the offline clip statistics for the same audio (random chunks, devices interleaved, random batches)', async () => {
    const files = [normalTest[0], abnormalTest[1], louder[2]];
    const settings = audioSettingsOf(det);
    const streams = new AudioStreams(settings);
    const scorer = new AudioEventScorer(settings);
    const signals = await Promise.all(files.map(async (f) => (await readWav(f, { channel: 0 })).samples));
    const rng = new Rng(21);
    const pos = files.map(() => 0);
    const last = new Map<string, ScoreEvent>();
    const queue: Window[] = [];
    const drain = async (all: boolean) => {
      while (queue.length > 0 && (all || queue.length > 7)) {
        const batch = queue.splice(0, 1 + rng.int(7));
        for (const ev of await scorer.scoreEvents(det, batch)) last.set(ev.stream, ev);
      }
    };
    while (pos.some((p, i) => p < signals[i].length)) {
      const i = rng.int(files.length);
      if (pos[i] >= signals[i].length) continue;
      const n = 1 + rng.int(900);
      queue.push(...streams.push(`dev-${i}`, signals[i].subarray(pos[i], pos[i] + n)));
      pos[i] += n;
      await drain(false);
    }
    await drain(true);
    for (let i = 0; i < files.length; i++) {
      const offline = await scoreClip(files[i], det);
      expect(offline.windows).toBeLessThanOrEqual(settings.horizonWindows);
      expect(last.get(`dev-${i}`)!.horizon).toEqual(pooledScore(offline.stats!, det.channelNames));
    }
    expect(last.get('dev-2')!.horizon).toMatchObject({ anomaly: true, top: 'level' });
    expect(last.get('dev-0')!.horizon!.anomaly).toBe(false);
  });
});

describe('clip aggregation and labels', () => {
  it('aggregates window scores by mean, max and top-k mean', () => {
    const v = [1, 5, 2, 8, 3, 4, 7, 6, 9, 10];
    expect(aggregateScores(v, 'mean')).toBe(5.5);
    expect(aggregateScores(v, 'max')).toBe(10);
    expect(aggregateScores(v, 'topk', 0.1)).toBe(10);
    expect(aggregateScores(v, 'topk', 0.3)).toBe(9);
    expect(aggregateScores(v, 'topk', 0.25)).toBe(9);
    expect(aggregateScores([], 'mean')).toBeNaN();
  });

  it('reads labels from folder names and from a CSV', async () => {
    expect(labelFromPath('data/fan/abnormal/0001.wav')).toBe(1);
    expect(labelFromPath('data/fan/normal/0001.wav')).toBe(0);
    expect(labelFromPath('data/normal/x/abnormal/1.wav')).toBe(1);
    expect(labelFromPath('clips/1.wav')).toBeUndefined();
    const csv = path.join(dir, 'labels.csv');
    writeFileSync(csv, 'file,label\nclips/a.wav,1\nb.wav,normal\n');
    const labels = await readLabelsCsv(csv);
    expect(lookupLabel(labels, 'clips/a.wav')).toBe(1);
    expect(lookupLabel(labels, 'elsewhere/b.wav')).toBe(0);
    expect(lookupLabel(labels, 'normal/c.wav')).toBeUndefined();
    writeFileSync(csv, 'a.wav,maybe\n');
    await expect(readLabelsCsv(csv)).rejects.toThrow(/not 0\/1/);
  });
});

describe('CLI', () => {
  it('trains on WAVs with an audio config and scores clips with labels, AUC on stderr', () => {
    const cfg = path.join(dir, 'audio.yaml');
    writeFileSync(
      cfg,
      `audio: { sampleRate: 8000, channel: 0, nFft: 256, hop: 128, nMels: 16, frames: 8, hopFrames: 4, trainHopFrames: 1, loudness: { mode: window, targetDb: -20 } }
model: { arch: mixer, patch: 2, dim: 32, depth: 1, T: 100 }
train: { epochs: 6, stepsPerEpoch: 30, batchSize: 64, patience: 4, seed: 3 }
scoring: { t0: 0.3, steps: 3, samples: 2 }
calibration: { targetFalseAlarmRate: 0.01 }
`,
    );
    const env = { ...process.env, NOISEFLOOR_LOG_LEVEL: 'warn' };
    const model = path.join(dir, 'cli-model');
    const t = spawnSync(process.execPath, [cliPath, 'train', '--data', path.join(dir, 'train/*.wav'), '--config', cfg, '--out', model], { encoding: 'utf8', env });
    expect(t.stderr).toMatch(/audio model .* written/);
    expect(t.status).toBe(0);
    const labels = path.join(dir, 'cli-labels.csv');
    writeFileSync(labels, [...normalTest.map((f) => `${path.basename(f)},0`), ...abnormalTest.map((f) => `${path.basename(f)},1`)].join('\n'));
    const out = path.join(dir, 'scores.jsonl');
    const s = spawnSync(
      process.execPath,
      [cliPath, 'score', '--model', model, path.join(dir, 'test/*/*.wav'), '--labels', labels, '--aggregation', 'topk', '--out', out],
      { encoding: 'utf8', env },
    );
    expect(s.stderr).toMatch(/scored 10 clip\(s\)/);
    expect(s.status).toBe(0);
    const auc = Number(/AUC ([0-9.]+)/.exec(s.stderr)?.[1]);
    expect(auc).toBeGreaterThanOrEqual(0.9);
    expect(s.stderr).toMatch(/pAUC\(FPR<=0\.1\) [0-9.]+/);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(10);
    const ab = rows.find((r) => String(r.clip).endsWith('a0.wav'))!;
    expect(ab.label).toBe(1);
    expect((ab.band_errors as number[]).length).toBe(16);
    expect((ab.frame_errors as (number | null)[]).length).toBeGreaterThan(100);
    expect(typeof ab.max_window_score).toBe('number');
    // CSV to stdout, labels from folder names.
    const c = spawnSync(process.execPath, [cliPath, 'score', '--model', model, normalTest[0], abnormalTest[0]], { encoding: 'utf8', env });
    expect(c.status).toBe(0);
    const lines = c.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'clip,score,raw,max_window_score,max_window_raw,anomaly,label,windows,level_db,top_band_hz,top_frame_s,combined_z,top_statistic,error_z,peak_z,shift_z,spectrum_z,spectrumDb_z,level_z,bandMax_z,profile_z,knn_z',
    );
    const [normalRow, abnormalRow] = [lines[1].split(','), lines[2].split(',')];
    expect(normalRow[6]).toBe('0');
    expect(abnormalRow[6]).toBe('1');
    // The combined clip decision flags the tone clip, not the normal one; the z columns are filled.
    expect([normalRow[5], abnormalRow[5]]).toEqual(['0', '1']);
    expect(Number(abnormalRow[11])).toBeGreaterThan(Number(normalRow[11]));
    expect(DEFAULT_CLIP_STATISTICS).toContain(abnormalRow[12]);
    expect(abnormalRow.slice(13).every((v) => Number.isFinite(Number(v)))).toBe(true);
  });
});
