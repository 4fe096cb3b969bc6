import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NAB_PROFILE_NAMES,
  type NabCorpus,
  type NabCostMatrix,
  type NabDetection,
  listNabDataFiles,
  loadNabCorpus,
  nabProbationaryLength,
  optimiseThreshold,
  readNabResults,
  scoreNab,
  writeNabResults,
} from '../../src/eval/nab.js';
import { InputError } from '../../src/util/errors.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nabDir = path.resolve(repoRoot, '../shared/data/nab');

/** Published NAB v1.1 scoreboard entries for the Numenta HTM detector. */
const PUBLISHED = { standard: 70.1, reward_low_FP_rate: 63.12, reward_low_FN_rate: 74.32 } as const;

describe('NAB scorer on the published Numenta HTM results', () => {
  let corpus: NabCorpus;
  let detections: Map<string, NabDetection>;
  let thresholds: Record<string, Record<string, { threshold: number; score: number }>>;

  beforeAll(() => {
    corpus = loadNabCorpus(nabDir);
    detections = readNabResults(path.join(nabDir, 'results'), 'numenta', corpus);
    thresholds = JSON.parse(readFileSync(path.join(nabDir, 'config', 'thresholds.json'), 'utf8'));
  });

  it('loads all 58 files and 116 windows', () => {
    expect(corpus.files).toHaveLength(58);
    expect(listNabDataFiles(nabDir)).toEqual(corpus.files.map((f) => f.relativePath));
    expect(corpus.labelWindowCount).toBe(116);
    expect(corpus.byPath.get('realKnownCause/nyc_taxi.csv')?.probationaryLength).toBe(750);
  });

  for (const profileName of NAB_PROFILE_NAMES) {
    it(`reproduces the published ${profileName} score at NAB's threshold`, () => {
      const profile = corpus.profiles[profileName]!;
      const published = thresholds.numenta[profileName];
      const result = scoreNab(corpus, detections, profile, published.threshold);

      expect(Math.abs(result.score - PUBLISHED[profileName])).toBeLessThanOrEqual(0.01);
      expect(result.raw).toBeCloseTo(published.score, 9);
      // The null detector's optimised raw score as NAB stored it.
      expect(result.nullRaw).toBeCloseTo(thresholds.null[profileName].score, 9);
      expect(result.perfectRaw).toBe(116 * profile.tpWeight);

      // NAB's own per-file score table for this profile: every file and the totals agree.
      const table = readFileSync(path.join(nabDir, 'results', 'numenta', `numenta_${profileName}_scores.csv`), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','));
      const byFile = new Map(result.perFile.map((f) => [f.file, f]));
      for (const row of table) {
        if (row[0] === 'Totals') {
          expect([result.counts.tp, result.counts.tn, result.counts.fp, result.counts.fn]).toEqual(row.slice(5, 9).map(Number));
          continue;
        }
        const mine = byFile.get(row[2]);
        expect(mine, row[2]).toBeDefined();
        expect(mine!.raw).toBeCloseTo(Number(row[4]), 6);
        expect([mine!.tp, mine!.fp]).toEqual([Number(row[5]), Number(row[7])]);
      }
    });

    it(`optimiser finds a ${profileName} threshold at least as good as NAB's`, () => {
      const profile = corpus.profiles[profileName]!;
      const best = optimiseThreshold(corpus, detections, profile);
      expect(best.score).toBeGreaterThanOrEqual(PUBLISHED[profileName] - 0.005);
      // The optimiser's incremental sum agrees with a direct scoring at its threshold.
      const direct = scoreNab(corpus, detections, profile, best.threshold);
      expect(direct.raw).toBeCloseTo(best.raw, 9);
      expect(direct.counts).toEqual(best.counts);
    });
  }
});

describe('NAB scorer on a hand-made corpus', () => {
  let dir: string;
  let corpus: NabCorpus;
  const profile: NabCostMatrix = { tpWeight: 1, fpWeight: 0.5, fnWeight: 1, tnWeight: 1 };
  const ts = (i: number) => `2020-01-01 00:${String(i).padStart(2, '0')}:00`;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nab-'));
    mkdirSync(path.join(dir, 'data', 'cat'), { recursive: true });
    mkdirSync(path.join(dir, 'labels'), { recursive: true });
    const rows = Array.from({ length: 20 }, (_, i) => `${ts(i)},${i}`);
    writeFileSync(path.join(dir, 'data', 'cat', 'a.csv'), ['timestamp,value', ...rows].join('\n') + '\n');
    // Window rows 10..13 (width 4); probationary rows 0..2 (floor(0.15 * 20) = 3).
    writeFileSync(
      path.join(dir, 'labels', 'combined_windows.json'),
      JSON.stringify({ 'cat/a.csv': [[`${ts(10)}.000000`, `${ts(13)}.000000`]] }),
    );
    corpus = loadNabCorpus(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const flagsAt = (rows: number[]) => {
    const scores = new Float64Array(20);
    for (const r of rows) scores[r] = 1;
    return new Map([['cat/a.csv', { scores }]]);
  };

  it('computes the probationary length as NAB does', () => {
    expect(nabProbationaryLength(20)).toBe(3);
    expect(nabProbationaryLength(10_000)).toBe(750);
    expect(corpus.files[0].windows).toEqual([{ start: 10, end: 13 }]);
  });

  it('scores detections by hand-computed sigmoid values', () => {
    // S(p) = 2/(1+e^{5p}) - 1 = -tanh(2.5p).
    const sMinus1 = Math.tanh(2.5);
    // Earliest detection at row 10: p = -(13-10+1)/4 = -1, value S(-1)/S(-1) = 1.
    expect(scoreNab(corpus, flagsAt([10]), profile, 0.5).raw).toBeCloseTo(1, 12);
    // Only the last row 13: p = -1/4, value tanh(0.625)/tanh(2.5).
    expect(scoreNab(corpus, flagsAt([13]), profile, 0.5).raw).toBeCloseTo(Math.tanh(0.625) / sMinus1, 12);
    // Rows 11 and 13: the earliest (11, p = -3/4) counts, the later adds nothing.
    expect(scoreNab(corpus, flagsAt([11, 13]), profile, 0.5).raw).toBeCloseTo(Math.tanh(1.875) / sMinus1, 12);
    // Nothing flagged: one missed window, -fnWeight.
    expect(scoreNab(corpus, flagsAt([]), profile, 0.5).raw).toBe(-1);
    // FP at row 5 (no preceding window): -fpWeight; row 1 is probationary and ignored.
    expect(scoreNab(corpus, flagsAt([1, 5]), profile, 0.5).raw).toBeCloseTo(-1 - 0.5, 12);
    // FP at row 15: p = |13-15|/(4-1), value S(2/3) * fpWeight = -tanh(5/3) * 0.5.
    expect(scoreNab(corpus, flagsAt([15]), profile, 0.5).raw).toBeCloseTo(-1 - 0.5 * Math.tanh(5 / 3), 12);
  });

  it('normalises so the null detector is 0 and a perfect one 100', () => {
    const perfect = scoreNab(corpus, flagsAt([10]), profile, 0.5);
    expect(perfect.nullRaw).toBe(-1);
    expect(perfect.perfectRaw).toBe(1);
    expect(perfect.score).toBeCloseTo(100, 12);
    expect(scoreNab(corpus, flagsAt([]), profile, 0.5).score).toBe(0);
    expect(perfect.counts).toEqual({ tp: 1, tn: 13, fp: 0, fn: 3, total: 17 });
  });

  it('flags scores >= threshold, so ties at the threshold are detections', () => {
    const scores = new Float64Array(20).fill(0.2);
    scores[12] = 0.7;
    const det = new Map([['cat/a.csv', { scores }]]);
    expect(scoreNab(corpus, det, profile, 0.7).counts.tp).toBe(1);
    expect(scoreNab(corpus, det, profile, 0.70001).counts.tp).toBe(0);
  });

  it('optimiser equals the best of direct scoring at every distinct score', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let trial = 0; trial < 5; trial++) {
      // Coarse scores so that ties occur.
      const scores = Float64Array.from({ length: 20 }, () => Math.round(rand() * 8) / 8);
      const det = new Map([['cat/a.csv', { scores }]]);
      const candidates = [1.1, ...new Set(scores)];
      const bruteBest = Math.max(...candidates.map((t) => scoreNab(corpus, det, profile, t).raw));
      const opt = optimiseThreshold(corpus, det, profile);
      expect(opt.raw).toBeCloseTo(bruteBest, 12);
      expect(scoreNab(corpus, det, profile, opt.threshold).raw).toBeCloseTo(bruteBest, 12);
    }
  });

  it('writes NAB-format results that read back', () => {
    const out = path.join(dir, 'results');
    const rows = corpus.files[0].timestamps.map((timestamp, i) => ({
      timestamp,
      value: i,
      anomalyScore: i === 11 ? 0.9 : 0.1,
      label: (i >= 10 && i <= 13 ? 1 : 0) as 0 | 1,
    }));
    const file = writeNabResults(out, 'mydet', 'cat/a.csv', rows);
    expect(path.relative(out, file)).toBe(path.join('mydet', 'cat', 'mydet_a.csv'));
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('timestamp,value,anomaly_score,label');
    const back = readNabResults(out, 'mydet', corpus).get('cat/a.csv')!;
    expect(Array.from(back.scores)).toEqual(rows.map((r) => r.anomalyScore));
    expect(scoreNab(corpus, new Map([['cat/a.csv', back]]), profile, 0.5).raw).toBeCloseTo(Math.tanh(1.875) / Math.tanh(2.5), 12);
  });

  it('rejects mismatched detections and windows with unknown timestamps', () => {
    expect(() => scoreNab(corpus, new Map([['cat/a.csv', { scores: new Float64Array(19) }]]), profile, 0.5)).toThrow(InputError);
    expect(() => scoreNab(corpus, new Map(), profile, 0.5)).toThrow(/no detections/);
    const badTs = corpus.files[0].timestamps.slice();
    badTs[4] = '2021-01-01 00:00:00';
    expect(() => scoreNab(corpus, new Map([['cat/a.csv', { timestamps: badTs, scores: new Float64Array(20) }]]), profile, 0.5)).toThrow(
      /differs/,
    );
    writeFileSync(path.join(dir, 'labels', 'combined_windows.json'), JSON.stringify({ 'cat/a.csv': [[ts(10) + '.5', ts(13)]] }));
    expect(() => loadNabCorpus(dir)).toThrow(/does not match timestamps/);
  });
});
