import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { aucRoc } from '../../src/eval/metrics.js';
import { openSeries } from '../../src/ingest/readers.js';
import { ANOMALY_KINDS, generateSeries, seriesToCsv, type InjectedAnomaly } from '../../src/ingest/synthetic.js';
import { readManifest } from '../../src/model/artifact.js';
import { scoreSource } from '../../src/jobs/score.js';
import { runTrainJob, type TrainJobResult } from '../../src/jobs/train.js';
import { calibrate, exceedanceProbability, fitGpd, fitGpdPwm, rawThreshold } from '../../src/scoring/calibration.js';
import { calibrationSchema } from '../../src/config/core.js';
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

let fresh: Promise<{ windows: Window[]; results: WindowScore[] }> | undefined;
/** 40 000 rows of fresh normal data (seed 23, phase 3), scored once for the calibration tests. */
function freshNormal(): Promise<{ windows: Window[]; results: WindowScore[] }> {
  fresh ??= scoreFile(writeSeriesCsv(path.join(dir, 'fresh-normal.csv'), 40000, { seed: 23, phase: 3 }));
  return fresh;
}

beforeAll(async () => {
  // 20 000 rows: the calibration holds out the newest 20 % of the (at most 6000) sampled
  // windows; from 5000 rows that is one stretch of 1000 steps, too little for a 1 % threshold
  // (measured: 0 of 1993 fresh windows flagged). Training time does not grow (steps are fixed).
  const train = writeSeriesCsv(path.join(dir, 'normal.csv'), 20000, { seed: 1 });
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

  // Plumbing and explanation checks: spike, level and frequency are loud (window max|x| or
  // first-difference energy reach the same AUC); the quality evidence, where the model must
  // beat the trivial detectors (test/support/trivial-detectors.ts), is test/e2e/quality.test.ts.
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

  it('calibrated scores lie in [0, 1] and a window is flagged exactly when its score reaches 1 - target', async () => {
    const { results } = await freshNormal();
    for (const r of results) {
      expect(r.score).toBeGreaterThanOrEqual(0);
      expect(r.score).toBeLessThanOrEqual(1);
    }
    const cal = detector.model.manifest.calibration!;
    expect(results.filter((r) => r.anomaly).length).toBe(results.filter((r) => r.raw >= cal.thresholdRaw).length);
    // The surprise is -log10 (1 - score), uncapped, and the flag is surprise >= -log10(target).
    const limit = -Math.log10(cal.targetFalseAlarmRate);
    for (const r of results) {
      if (1 - r.score > 1e-12) expect(r.surprise).toBeCloseTo(-Math.log10(1 - r.score), 6);
      if (Math.abs(r.surprise - limit) > 1e-9) expect(r.anomaly).toBe(r.surprise > limit);
    }
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

/**
 * Calibration checked from both sides: an infinite threshold has no false alarms, so "at most
 * the target" alone proves nothing. 40 000 fresh normal rows (another seed and phase than the
 * training data) give 9993 windows; overlapping windows are correlated (a step is in 8 of them),
 * so the band is wide: 0.25x to 4x of the target.
 */
describe('calibration on fresh normal data, from both sides', () => {
  const rateAt = async (target: number) => {
    const cal = detector.model.manifest.calibration!;
    const thr = rawThreshold(cal, target);
    const { results } = await freshNormal();
    const rate = results.filter((r) => r.raw >= thr).length / results.length;
    console.log(`calibration: target ${target}, false-alarm rate ${rate.toFixed(5)} on ${results.length} fresh normal windows`);
    return { rate, n: results.length };
  };

  it('at the trained target (1 %): the false-alarm rate is within 0.25x-4x of it', async () => {
    const cal = detector.model.manifest.calibration!;
    expect(cal.targetFalseAlarmRate).toBe(0.01);
    const { results } = await freshNormal();
    expect(results.length).toBeGreaterThan(9000);
    const rate = results.filter((r) => r.anomaly).length / results.length;
    console.log(`calibration: target 0.01, false-alarm rate ${rate.toFixed(5)} on ${results.length} fresh normal windows`);
    expect(rate).toBeGreaterThanOrEqual(0.0025);
    expect(rate).toBeLessThanOrEqual(0.04);
    // The stored calibration gives the same threshold for the target it was trained with.
    expect(rawThreshold(cal, 0.01)).toBeCloseTo(cal.thresholdRaw, 12);
  });

  it('at 5 %: within 0.25x-4x', async () => {
    const { rate } = await rateAt(0.05);
    expect(rate).toBeGreaterThanOrEqual(0.0125);
    expect(rate).toBeLessThanOrEqual(0.2);
  });

  it('at the default target (0.1 %): at most 4x of it', async () => {
    const target = calibrationSchema.parse({}).targetFalseAlarmRate;
    expect(target).toBe(0.001);
    const { rate } = await rateAt(target);
    expect(rate).toBeLessThanOrEqual(4 * target);
  });

  // Was a known defect (issue 18 note): the PWM fit of the generalised Pareto tail put xi at
  // +0.34 on this model's ~120 held-out excesses, and 0 of 9993 fresh windows passed the
  // 0.1 % threshold. The maximum-likelihood fit (xi -0.40) gives 12 (1.2x); over 4 trained
  // models and 4 phase grids it averages 0.15x-3x (docs/evaluation.md, "Calibration tail").
  it('at the default target (0.1 %): at least 0.25x of it', async () => {
    const target = calibrationSchema.parse({}).targetFalseAlarmRate;
    const { rate } = await rateAt(target);
    expect(rate).toBeGreaterThanOrEqual(0.25 * target);
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

describe('calibration: a bounded tail (xi < 0)', () => {
  // Uniform(0, 1) scores: the tail above the 0.9 quantile is bounded at 1 (xi -1, clamped to -0.5).
  const rng = new Rng(8);
  const cal = calibrate(
    Array.from({ length: 5000 }, () => rng.next()),
    0.001,
    0.9,
  );

  it('is fitted as bounded, and its thresholds for ordinary targets are the fitted ones', () => {
    expect(cal.tail!.xi).toBeLessThan(-0.3);
    const end = cal.tail!.u + cal.tail!.sigma / -cal.tail!.xi;
    expect(end).toBeGreaterThan(0.99);
    expect(end).toBeLessThan(1.05);
    // 0.1 % of Uniform(0, 1) is 0.999; xi clamped at -0.5 (not -1) puts it a little past 1.
    expect(cal.thresholdRaw).toBeGreaterThan(0.99);
    expect(cal.thresholdRaw).toBeLessThan(1.05);
  });

  it('gives no score probability 0: past the fitted depth it decays exponentially, continuously, in order', () => {
    const end = cal.tail!.u + cal.tail!.sigma / -cal.tail!.xi;
    const ps = [0.999, end - 1e-3, end, end + 0.01, end + 0.1, end + 1].map((x) => exceedanceProbability(cal, x));
    for (const p of ps) expect(p).toBeGreaterThan(0);
    for (let i = 1; i < ps.length; i++) expect(ps[i]).toBeLessThan(ps[i - 1]);
    // Continuous where the continuation starts (overall probability exceedRate * 1e-3).
    const yc = rawThreshold(cal, cal.tail!.exceedRate * 1e-3);
    expect(exceedanceProbability(cal, yc * (1 + 1e-9))).toBeCloseTo(exceedanceProbability(cal, yc * (1 - 1e-9)), 9);
    // rawThreshold inverts it, also deep in the continuation.
    for (const rate of [1e-3, 1e-5, 1e-8]) expect(exceedanceProbability(cal, rawThreshold(cal, rate)) / rate).toBeCloseTo(1, 6);
  });
});

describe('calibration.tailFit', () => {
  it('ml by default; pwm fits the same peaks by probability-weighted moments', () => {
    const rng = new Rng(9);
    const sample = Array.from({ length: 3000 }, () => rng.next() ** 2);
    const ml = calibrate(sample, 0.001, 0.9);
    const pwm = calibrate(sample, 0.001, 0.9, 'pwm');
    expect(calibrationSchema.parse({}).tailFit).toBe('ml');
    expect(pwm.tail!.u).toBe(ml.tail!.u);
    const excesses = [...sample].filter((v) => v > ml.tail!.u).map((v) => v - ml.tail!.u);
    expect(pwm.tail!.xi).toBeCloseTo(fitGpdPwm(excesses).xi, 12);
    expect(ml.tail!.xi).toBeCloseTo(fitGpd(excesses).xi, 12);
    expect(Math.abs(ml.tail!.xi - pwm.tail!.xi)).toBeGreaterThan(0.01);
  });
});

describe('offline score: the daemon event-time order policy', () => {
  it('drops a late row and a repeated timestamp by default, and puts them in order within allowedLatenessMs', async () => {
    // 80 rows one minute apart, then row 40 moved behind row 42 and row 60 repeated.
    const csv = seriesToCsv(generateSeries(80, { seed: 9 }), undefined, Date.UTC(2026, 0, 1)).trimEnd().split('\n');
    const [header, ...rows] = csv;
    const shuffled = [...rows.slice(0, 40), rows[41], rows[42], rows[40], ...rows.slice(43, 61), rows[60], ...rows.slice(61)];
    const file = path.join(dir, 'disorder.csv');
    writeFileSync(file, [header, ...shuffled].join('\n') + '\n');
    const windowsOf = async (allowedLatenessMs: number) => {
      const ws: Window[] = [];
      const res = await scoreSource(await openSeries(file, { channels: detector.channelNames }), detector, (w) => void ws.push(...w), 256, undefined, { allowedLatenessMs, maxBuffered: 1024 });
      return { ws, res };
    };
    const strict = await windowsOf(0);
    expect(strict.res).toMatchObject({ rows: 79, late: 1, duplicate: 1 });
    const lenient = await windowsOf(3 * 60_000);
    expect(lenient.res).toMatchObject({ rows: 80, late: 0, duplicate: 1 });
    // In order: every window's timestamps increase one minute per step.
    const ms = (t: number | string | undefined) => (typeof t === 'number' ? t : Date.parse(String(t)));
    expect(lenient.ws.length).toBeGreaterThan(5);
    for (const w of lenient.ws) expect(ms(w.endTs) - ms(w.startTs)).toBe((w.length - 1) * 60_000);
  });
});
