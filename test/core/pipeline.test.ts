import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { aucRoc } from '../../src/eval/metrics.js';
import { openSeries } from '../../src/ingest/readers.js';
import { ANOMALY_KINDS, type InjectedAnomaly } from '../../src/ingest/synthetic.js';
import { readManifest } from '../../src/model/artifact.js';
import { scoreSource } from '../../src/pipeline/score.js';
import { runTrainJob, type TrainJobResult } from '../../src/pipeline/train.js';
import { calibrate, exceedanceProbability, fitGpd } from '../../src/scoring/calibration.js';
import { Detector } from '../../src/scoring/detector.js';
import type { WindowScore } from '../../src/scoring/types.js';
import type { Window } from '../../src/ingest/types.js';
import { ModelLoadError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { Rng } from '../../src/util/rng.js';
import { smallConfig, tempDir, writeSeriesCsv } from '../support/core.js';

const dir = tempDir();
const modelDir = path.join(dir, 'model');
let job: TrainJobResult;
let detector: Detector;

async function scoreFile(file: string): Promise<{ windows: Window[]; results: WindowScore[] }> {
  const windows: Window[] = [];
  const results: WindowScore[] = [];
  const src = await openSeries(file, { channels: detector.channelNames });
  await scoreSource(src, detector, (ws, rs) => {
    windows.push(...ws);
    results.push(...rs);
  });
  return { windows, results };
}

const overlaps = (w: Window, a: InjectedAnomaly) => !(w.end < a.start || w.start > a.end);

beforeAll(async () => {
  const train = writeSeriesCsv(path.join(dir, 'normal.csv'), 5000, { seed: 1 });
  job = await runTrainJob({ files: [train], outDir: modelDir, config: smallConfig(), log: silentLogger });
  detector = await Detector.open(modelDir, { provider: 'cpu', intraOpThreads: 0 }, silentLogger);
}, 300_000);

describe('train and score on generated multichannel data', () => {
  it('writes a complete, loadable model directory', async () => {
    const m = await readManifest(modelDir);
    expect(m.channels).toEqual(['ch0', 'ch1', 'ch2']);
    expect(m.calibration?.thresholdRaw).toBeGreaterThan(0);
    expect(m.training.dataHash).toMatch(/^[0-9a-f]{64}$/);
    expect(m.training.libraries).toMatchObject({ tfjs: expect.any(String), onnxruntime: expect.any(String) });
    expect(job.result.valLoss.at(-1)).toBeLessThan(job.result.valLoss[0]);
  });

  it.each(ANOMALY_KINDS)('detects an injected %s anomaly (AUC >= 0.95 against held-out normal windows)', async (kind) => {
    const anomaly: InjectedAnomaly = { kind, start: 600, end: kind === 'spike' ? 600 : 680, channel: 1 };
    const file = writeSeriesCsv(path.join(dir, `test-${kind}.csv`), 1200, { seed: 11, phase: 5 }, [anomaly]);
    const { windows, results } = await scoreFile(file);
    const labels = windows.map((w) => (overlaps(w, anomaly) ? 1 : 0));
    const auc = aucRoc(
      results.map((r) => r.raw),
      labels,
    );
    expect(auc).toBeGreaterThanOrEqual(0.95);
    // The explanation points at the channel that was changed, in the most anomalous window.
    const worst = results.reduce((b, r, i) => (r.raw > results[b].raw ? i : b), 0);
    expect(overlaps(windows[worst], anomaly)).toBe(true);
    // A frequency change moves every channel, and a decorrelated channel is ambiguous
    // (ch2 is a mixture of ch0 and ch1, so either can be blamed); the others are local.
    if (kind === 'spike' || kind === 'level' || kind === 'flat') expect(detector.channelNames[results[worst].topChannel]).toBe('ch1');
  });

  it('keeps the false-alarm rate on fresh normal data near the calibrated target', async () => {
    const file = writeSeriesCsv(path.join(dir, 'fresh-normal.csv'), 4000, { seed: 23, phase: 3 });
    const { results } = await scoreFile(file);
    const rate = results.filter((r) => r.anomaly).length / results.length;
    // Target 1%; overlapping windows are correlated, so allow a few times the target.
    expect(rate).toBeLessThanOrEqual(0.05);
    const calibrated = results.map((r) => r.score);
    expect(Math.min(...calibrated)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...calibrated)).toBeLessThanOrEqual(1);
  });

  it('scores are deterministic and independent of batch composition', async () => {
    const file = writeSeriesCsv(path.join(dir, 'det.csv'), 400, { seed: 5 });
    const a = await scoreFile(file);
    const b = await scoreFile(file);
    expect(b.results.map((r) => r.raw)).toEqual(a.results.map((r) => r.raw));
    const single = await detector.score([a.windows[3]]);
    expect(single[0].raw).toBeCloseTo(a.results[3].raw, 6);
  });

  it('likelihood mode also separates anomalies', async () => {
    const like = new Detector(detector.model, { mode: 'likelihood' });
    const anomaly: InjectedAnomaly = { kind: 'level', start: 300, end: 380, channel: 0 };
    const file = writeSeriesCsv(path.join(dir, 'like.csv'), 800, { seed: 12 }, [anomaly]);
    const src = await openSeries(file, { channels: detector.channelNames });
    const windows: Window[] = [];
    const raws: number[] = [];
    await scoreSource(src, like, (ws, rs) => {
      windows.push(...ws);
      raws.push(...rs.map((r) => r.raw));
    });
    expect(aucRoc(raws, windows.map((w) => (overlaps(w, anomaly) ? 1 : 0)))).toBeGreaterThanOrEqual(0.95);
  });
});

describe('model directory errors', () => {
  it('a missing directory or manifest is a clear ModelLoadError', async () => {
    await expect(Detector.open(path.join(dir, 'nope'), { provider: 'cpu', intraOpThreads: 0 }, silentLogger)).rejects.toThrow(
      /cannot read .*noisefloor.json.*ENOENT/,
    );
  });

  it('a corrupted model.onnx or manifest is a clear ModelLoadError', async () => {
    const bad = path.join(dir, 'bad-model');
    mkdirSync(bad);
    copyFileSync(path.join(modelDir, 'noisefloor.json'), path.join(bad, 'noisefloor.json'));
    writeFileSync(path.join(bad, 'model.onnx'), 'this is not a protobuf');
    const err = await Detector.open(bad, { provider: 'cpu', intraOpThreads: 0 }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toContain('model.onnx');

    const badManifest = path.join(dir, 'bad-manifest');
    mkdirSync(badManifest);
    copyFileSync(path.join(modelDir, 'model.onnx'), path.join(badManifest, 'model.onnx'));
    writeFileSync(path.join(badManifest, 'noisefloor.json'), JSON.stringify({ formatVersion: 1, channels: [] }));
    await expect(Detector.open(badManifest, { provider: 'cpu', intraOpThreads: 0 }, silentLogger)).rejects.toBeInstanceOf(ModelLoadError);
  });
});

describe('calibration', () => {
  it('fits the exponential tail and puts the threshold at the target rate', () => {
    const rng = new Rng(4);
    const sample = Array.from({ length: 20000 }, () => -Math.log(1 - rng.next()));
    const gpd = fitGpd(sample.filter((v) => v > 1).map((v) => v - 1));
    expect(gpd.xi).toBeCloseTo(0, 1);
    expect(gpd.sigma).toBeCloseTo(1, 1);
    const cal = calibrate(sample, 0.001, 0.9);
    // Exponential(1): P(X > x) = e^-x, so the 0.1% threshold is ln(1000) = 6.91.
    expect(cal.thresholdRaw).toBeGreaterThan(6.3);
    expect(cal.thresholdRaw).toBeLessThan(7.5);
    expect(exceedanceProbability(cal, cal.thresholdRaw)).toBeCloseTo(0.001, 6);
    expect(exceedanceProbability(cal, 0)).toBe(1);
    expect(exceedanceProbability(cal, Math.log(2))).toBeCloseTo(0.5, 1);
  });
});
