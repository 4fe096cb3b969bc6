import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateConfigSchema, evaluateSectionSchema, type EvaluateConfig } from '../../src/eval/config.js';
import { runEvaluation, unitFilter, type NabReport, type RangeReport } from '../../src/eval/evaluate.js';
import { buildEvaluationReport } from '../../src/eval/report.js';
import { loadNabCorpus } from '../../src/eval/nab.js';
import { renderReport } from '../../src/report/index.js';
import { nabResultsPath } from '../../src/eval/nab.js';
import { postprocessRows, spatialAnomalies, windowScoresToRows } from '../../src/eval/rows.js';
import { runUnits } from '../../src/eval/runner.js';
import { generateSeries, type InjectedAnomaly } from '../../src/ingest/synthetic.js';
import { silentLogger } from '../../src/util/log.js';
import { loadConfigFile } from '../../src/config/load.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared/data');
const smokeConfigFile = path.join(repoRoot, 'config/evaluate-smoke.yaml');

describe('window scores to row scores', () => {
  it('gives each row the newest window ending at or before it (causal)', () => {
    // Windows of length 4, hop 2: ends at rows 3, 5, 7 and a final flush window at 8.
    const rows = windowScoresToRows(9, [3, 5, 7, 8], [10, 20, 30, 40], -1);
    expect(Array.from(rows)).toEqual([-1, -1, -1, 10, 10, 20, 20, 30, 40]);
  });

  it('rejects mismatched or decreasing window ends', () => {
    expect(() => windowScoresToRows(5, [1, 2], [1])).toThrow(/window ends/);
    expect(() => windowScoresToRows(5, [3, 1], [1, 2])).toThrow(/must not decrease/);
  });

  it('spatial check flags values beyond the range seen so far, using only the past', () => {
    const flags = spatialAnomalies([0, 10, 5, 10.4, 11.5, 20, -2], 0.05);
    // Range [0, 10], tolerance 0.5: 10.4 is inside; then [0, 10.4], tolerance 0.52: 11.5 is beyond.
    expect(Array.from(flags)).toEqual([0, 0, 0, 0, 1, 1, 1]);
  });

  it('likelihood output stays in [0, 1] and rises after a lasting jump in the scores', () => {
    const n = 600;
    const score = Array.from({ length: n }, (_, i) => (i < 450 ? 0.3 + 0.4 * ((i * 7919) % 100) / 100 : 0.999));
    const windowEnd = Array.from({ length: n }, (_, i) => i + 9);
    const cfg = evaluateConfigSchema.parse({}).evaluate.postprocess;
    const rows = postprocessRows({ rows: n + 9, windowEnd, raw: score, score, probationaryRows: 200 }, { ...cfg, spatialTolerance: null });
    expect(Math.min(...rows)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...rows)).toBeLessThanOrEqual(1);
    const before = Math.max(...rows.slice(300, 450));
    const after = Math.max(...rows.slice(460, 480));
    expect(after).toBeGreaterThan(before + 0.2);
  });

  it('unit filter matches ids and bare file names', () => {
    const f = unitFilter('realKnownCause/*.csv,art_daily_jumpsup.csv');
    expect(f('realKnownCause/nyc_taxi.csv')).toBe(true);
    expect(f('artificialWithAnomaly/art_daily_jumpsup.csv')).toBe(true);
    expect(f('realTweets/Twitter_volume_AAPL.csv')).toBe(false);
    expect(unitFilter('SMAP/**')('SMAP/A-1')).toBe(true);
  });
});

describe('evaluate on NAB (smoke subset)', () => {
  let out: string;
  let config: EvaluateConfig;
  const files = 'art_daily_jumpsup.csv,art_daily_no_noise.csv';
  beforeAll(async () => {
    out = mkdtempSync(path.join(os.tmpdir(), 'nf-eval-nab-'));
    config = await loadConfigFile(evaluateConfigSchema, smokeConfigFile);
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes NAB results files and scores the three profiles; a second run comes from the cache', async () => {
    const run = await runEvaluation({ corpus: 'nab', dataDir: path.join(shared, 'nab'), files, config, outDir: out, jobs: 1, log: silentLogger });
    const report = run.report as NabReport;
    expect(report.files).toBe(2);
    // The HTML report draws each file with NAB's anomaly windows beside the flags.
    const html = await buildEvaluationReport(run, path.join(shared, 'nab'), config);
    expect(html.streams?.map((s) => s.name).sort()).toEqual(run.units.map((u) => u.id).sort());
    const nabCorpus = loadNabCorpus(path.join(shared, 'nab'));
    expect((html.streams ?? []).some((s) => (s.labels?.length ?? 0) > 0)).toBe(true);
    for (const s of html.streams ?? []) {
      expect(s.labels?.map((l) => [l.start, l.end])).toEqual(nabCorpus.byPath.get(s.name)!.windows.map((w) => [w.start, w.end]));
      expect(s.windows.start.length).toBe(run.results.find((r) => r.id === s.name)!.windowEnd.length);
    }
    expect(Object.keys(html.metrics ?? {})).toContain('NAB score, standard');
    expect(renderReport(html)).toContain('Labelled anomaly ranges');
    expect(report.headline.profiles.map((p) => p.profile)).toEqual(['standard', 'reward_low_FP_rate', 'reward_low_FN_rate']);
    for (const p of report.headline.profiles) {
      expect(Number.isFinite(p.score)).toBe(true);
      expect(p.score).toBeGreaterThan(-100);
      expect(p.score).toBeLessThanOrEqual(100);
    }
    // Baselines through the same post-processing, with and without the spatial check.
    expect(report.baselines.map((b) => b.name)).toEqual([
      'robust-z: likelihood + spatial 0.05',
      'robust-z: likelihood',
      'kNN: likelihood + spatial 0.05',
      'kNN: likelihood',
    ]);
    const baselineScores = report.baselines.flatMap((b) => b.profiles.map((p) => p.score));
    expect(Math.min(...baselineScores)).toBeGreaterThan(-100);
    expect(Math.max(...baselineScores)).toBeLessThanOrEqual(100);
    // The jump in art_daily_jumpsup is an easy anomaly: the standard profile must score above the null detector.
    expect(report.headline.profiles[0].score).toBeGreaterThan(0);
    // ... but the range check alone (no model) finds that jump: on these files with the smoke
    // model the headline equals the no-model ablation (measured 93.03 / 93.03 / 95.36 for both).
    // Here the model must at least not make it worse; that it adds detection on top of the range
    // check is asserted with the configured NAB model in test/eval/nab-quality.slow.test.ts
    // (slow suite: npm run test:slow), since the smoke model does not (measured: equal).
    const noModel = report.ablations.find((a) => a.name === 'spatial check 0.05 alone (no model)')!;
    expect(noModel.profiles.map((p) => p.profile)).toEqual(report.headline.profiles.map((p) => p.profile));
    report.headline.profiles.forEach((p, i) => expect(p.score).toBeGreaterThanOrEqual(noModel.profiles[i].score - 1e-9));
    for (const id of ['artificialWithAnomaly/art_daily_jumpsup.csv', 'artificialNoAnomaly/art_daily_no_noise.csv']) {
      const file = nabResultsPath(report.resultsDir, 'noisefloor', id);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      const data = readFileSync(path.join(shared, 'nab/data', id), 'utf8').trim().split('\n');
      expect(lines[0]).toBe('timestamp,value,anomaly_score,label');
      expect(lines.length).toBe(data.length);
      for (const l of lines.slice(1)) {
        const s = Number(l.split(',')[2]);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      }
    }
    expect(existsSync(path.join(out, 'nab', 'report.md'))).toBe(true);

    let cached = -1;
    const again = await runUnits({ units: run.units, config, outDir: out, jobs: 1, log: silentLogger, onProgress: (p) => (cached = p.cached) });
    expect(cached).toBe(2);
    expect(again.map((r) => r.raw)).toEqual(run.results.map((r) => r.raw));

    // A different model setting is a different cache key: the unit is computed again.
    let cachedAfterChange = -1;
    await runUnits({
      units: run.units.slice(0, 1),
      config: { ...config, scoring: { ...config.scoring, t0: 0.2 } },
      outDir: out,
      jobs: 1,
      log: silentLogger,
      onProgress: (p) => (cachedAfterChange = p.cached),
    });
    expect(cachedAfterChange).toBe(0);
  }, 300_000);
});

describe('evaluate on SMAP/MSL (smoke subset)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(path.join(os.tmpdir(), 'nf-eval-smap-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('reports model and baseline metrics per channel and in aggregate', async () => {
    const base = await loadConfigFile(evaluateConfigSchema, smokeConfigFile);
    const config: EvaluateConfig = { ...base, data: { ...base.data, channels: ['c0'], timestampColumn: null } };
    const run = await runEvaluation({ corpus: 'smap-msl', dataDir: path.join(shared, 'smap_msl'), files: 'MSL/C-1,SMAP/A-1', config, outDir: out, jobs: 1, log: silentLogger });
    const report = run.report as RangeReport;
    expect(report.units.map((u) => u.id)).toEqual(['MSL/C-1', 'SMAP/A-1']);
    const html = await buildEvaluationReport(run, path.join(shared, 'smap_msl'), config);
    expect(html.streams?.every((s) => (s.labels?.length ?? 0) > 0)).toBe(true);
    expect(html.metrics?.['noisefloor: AUC-PR']).toBeCloseTo(report.aggregate[0].aucPr, 3);
    expect(report.aggregate.map((a) => a.detector)).toEqual(['noisefloor', 'robust-z', 'kNN']);
    for (const a of report.aggregate) {
      for (const v of [a.aucPr, a.vusPr, a.bestCompositeF1]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
    const m = report.aggregate[0];
    expect(m.calibratedEventF1).toBeGreaterThanOrEqual(0);
    expect(m.calibratedEventF1).toBeLessThanOrEqual(1);
    expect(Object.keys(report.bySpacecraft!)).toEqual(['MSL', 'SMAP']);
    // Every test row has a score: the test file length.
    expect(run.results[0].rows).toBe(report.units[0].rows);
    expect(readFileSync(path.join(out, 'smap-msl', 'report.md'), 'utf8')).toContain('| noisefloor |');
  });

  it('fuses the network with the window memory from the cached network scores, and reports every part', async () => {
    const base = await loadConfigFile(evaluateConfigSchema, smokeConfigFile);
    const config: EvaluateConfig = {
      ...base,
      data: { ...base.data, channels: ['c0'], timestampColumn: null },
      evaluate: evaluateSectionSchema.parse({ ...base.evaluate, memory: { enabled: true, capacity: 300 }, fusion: { parts: ['network', 'memory'] } }),
    };
    let cached = -1;
    const run = await runEvaluation({
      corpus: 'smap-msl',
      dataDir: path.join(shared, 'smap_msl'),
      files: 'MSL/C-1,SMAP/A-1',
      config,
      outDir: out,
      jobs: 1,
      log: silentLogger,
      onProgress: (p) => (cached = p.cached),
    });
    // Memory and fusion settings are not part of the cache key: the network scores are reused.
    expect(cached).toBe(2);
    const report = run.report as RangeReport;
    const names = report.aggregate.map((a) => a.detector);
    expect(names[0]).toBe('noisefloor');
    for (const part of ["noisefloor: network alone (the model's own score)", 'noisefloor: fusion of memory', 'noisefloor: fusion of residual', 'kNN'])
      expect(names).toContain(part);
    // The fused score is the Bonferroni-corrected max of the parts' surprises, window by window.
    const r = run.results[0];
    expect(r.raw.length).toBe(r.windowEnd.length);
    expect(Math.min(...r.raw)).toBeGreaterThanOrEqual(0);
    expect(r.flagged.every((f, k) => f === (r.raw[k] >= 3 ? 1 : 0))).toBe(true);
    // The memory part alone is a detector in its own right (better than random on these channels).
    const mem = report.aggregate.find((a) => a.detector === 'noisefloor: fusion of memory')!;
    expect(mem.aucPr).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, 'smap-msl', 'report.md'), 'utf8')).toContain('Window memory:');
  }, 300_000);
});

describe('evaluate on a labelled-csv corpus of synthetic data', () => {
  let dir: string;
  let out: string;
  const positiveRate: number[] = [];
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nf-eval-csv-'));
    out = mkdtempSync(path.join(os.tmpdir(), 'nf-eval-csv-out-'));
    const n = 2000;
    // Training part (first 30%) is clean; anomalies of every kind after it.
    const files: [string, InjectedAnomaly[], number][] = [
      [
        'machine_a.csv',
        [
          { kind: 'level', start: 800, end: 850, channel: 0 },
          { kind: 'spike', start: 1100, end: 1100, channel: 1 },
          { kind: 'frequency', start: 1400, end: 1460, channel: 0 },
          { kind: 'flat', start: 1750, end: 1810, channel: 2 },
        ],
        3,
      ],
      [
        'machine_b.csv',
        [
          { kind: 'decorrelate', start: 900, end: 980, channel: 1 },
          { kind: 'level', start: 1300, end: 1350, channel: 2 },
          { kind: 'spike', start: 1700, end: 1700, channel: 0 },
        ],
        11,
      ],
    ];
    for (const [name, anomalies, seed] of files) {
      const rows = generateSeries(n, { channels: 3, period: 32, noise: 0.1, seed }, anomalies);
      const label = new Uint8Array(n);
      for (const a of anomalies) label.fill(1, a.start, a.end + 1);
      // machine_b is a semicolon file: the delimiter is sniffed for the data and the labels alike.
      const sep = name === 'machine_b.csv' ? ';' : ',';
      const lines = [['timestamp', 'ch0', 'ch1', 'ch2', 'label'].join(sep)];
      rows.forEach((r, i) => lines.push([new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(), ...Array.from(r, (x) => x.toFixed(5)), label[i]].join(sep)));
      writeFileSync(path.join(dir, name), lines.join('\n') + '\n');
      positiveRate.push(label.subarray(600).reduce((s, x) => s + x, 0) / (n - 600));
    }
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  it('the model clearly beats random on injected anomalies; two worker processes give the same scores as one', async () => {
    const base = await loadConfigFile(evaluateConfigSchema, smokeConfigFile);
    const config: EvaluateConfig = {
      ...base,
      window: { length: 32, hop: 1 },
      model: { ...base.model, patch: 4, dim: 32 },
      train: { ...base.train, epochs: 8, stepsPerEpoch: 20, batchSize: 64 },
      evaluate: { ...base.evaluate, trainFraction: 0.3 },
    };
    const run = await runEvaluation({ corpus: 'labelled-csv', dataDir: dir, config, outDir: out, jobs: 1, log: silentLogger });
    const report = run.report as RangeReport;
    expect(report.units.map((u) => u.id)).toEqual(['machine_a.csv', 'machine_b.csv']);
    // Metrics only on the rows after the training part.
    expect(report.units[0].rows).toBe(1400);
    // Loud anomalies (level, spike): plumbing of the labelled-csv corpus, not quality evidence;
    // the harness's own kNN baseline clears these bars too (test/e2e/quality.test.ts is where
    // the model must beat the trivial detectors).
    report.units.forEach((u, i) => {
      // Random scores have AUC-PR about the positive rate (~8%).
      expect(u.model.aucPr).toBeGreaterThan(Math.max(0.3, 4 * positiveRate[i]));
      expect(u.model.best.recall).toBeGreaterThanOrEqual(0.5);
    });
    // The label column never reaches the model.
    expect(run.results[0].channels).toEqual(['ch0', 'ch1', 'ch2']);
    expect(run.results[1].channels).toEqual(['ch0', 'ch1', 'ch2']);

    const out2 = mkdtempSync(path.join(os.tmpdir(), 'nf-eval-csv-par-'));
    try {
      const par = await runUnits({ units: run.units, config, outDir: out2, jobs: 2, log: silentLogger });
      expect(par.map((r) => r.id)).toEqual(run.results.map((r) => r.id));
      par.forEach((r, i) => {
        expect(r.windowEnd).toEqual(run.results[i].windowEnd);
        r.raw.forEach((v, k) => expect(v).toBeCloseTo(run.results[i].raw[k], 4));
      });
    } finally {
      rmSync(out2, { recursive: true, force: true });
    }
  }, 300_000);
});
