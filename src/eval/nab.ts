/**
 * The Numenta Anomaly Benchmark v1.1 scorer, reproducing numenta/NAB's Python
 * (`nab/sweeper.py`, `nab/scorer.py`, `nab/optimizer.py`, `Runner.normalize` in
 * `nab/runner.py`) so that published scores can be compared with ours.
 *
 * How NAB scores one detector under one profile (cost matrix):
 * - Each file's first min(floor(0.15 * rows), 750) rows are probationary and ignored.
 * - Rows inside an anomaly window (from `labels/combined_windows.json`) are scored "as if
 *   a true positive": position p = -(rightIndex - i + 1) / windowWidth (in [-1, 0)) and
 *   value S(p) * tpWeight / S(-1), with S(p) = 2 / (1 + exp(5p)) - 1 (the scaled sigmoid,
 *   -1 when p > 3). A window contributes the largest value among its flagged rows (the
 *   earliest detection) or -fnWeight when none is flagged; later detections add nothing.
 * - Rows outside windows are scored "as if a false positive": S(|prevRight - i| /
 *   (prevWidth - 1)) * fpWeight relative to the closest preceding window, or -fpWeight
 *   when no window precedes. Every flagged row outside windows adds its value.
 * - A row is flagged when its anomaly score >= threshold.
 * - The raw corpus score is the sum over files. The threshold is optimised per detector
 *   and profile over the whole corpus by sweeping all distinct scores (NAB's Sweeper).
 * - Normalised score = 100 * (raw - null) / (perfect - null), where null is the raw score
 *   of the null detector (constant 0.5 output, after the same optimisation) and perfect =
 *   tpWeight * number of windows in the label file.
 *
 * Quirks kept on purpose, because they change published numbers: windows are entered by
 * exact timestamp equality and in label-file order; the false-positive denominator is
 * the preceding window's width - 1 while the true-positive one is the width.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../util/errors.js';
import { columnIndex, numberAt, readCsvTable, readJsonFile } from './csv.js';

export interface NabCostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
  tnWeight: number;
}

export type NabProfileName = 'standard' | 'reward_low_FP_rate' | 'reward_low_FN_rate';
export const NAB_PROFILE_NAMES: readonly NabProfileName[] = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'];

/** NAB's `probationPercent`. */
export const NAB_PROBATION_PERCENT = 0.15;

/** Row marker in `NabFile.rowWindow`: the row lies in the probationary period. */
export const ROW_PROBATIONARY = -2;
/** Row marker in `NabFile.rowWindow`: the row lies outside every anomaly window. */
export const ROW_OUTSIDE = -1;

export interface NabFile {
  /** Path relative to `data/`, e.g. `realKnownCause/nyc_taxi.csv` (NAB's key). */
  relativePath: string;
  timestamps: string[];
  /** Timestamps as epoch milliseconds (UTC), used for exact matching. */
  times: Float64Array;
  /** Anomaly windows as inclusive row ranges, in label-file order. */
  windows: { start: number; end: number }[];
  probationaryLength: number;
  /** Per row: ROW_PROBATIONARY, ROW_OUTSIDE or a corpus-wide window id. */
  rowWindow: Int32Array;
  /**
   * Per row: the unweighted scaled-sigmoid value NAB's sweeper gives the row if flagged
   * (before tpWeight / S(-1) or fpWeight). It depends only on the labels, not on a detector.
   */
  rowSigmoid: Float64Array;
}

export interface NabCorpus {
  dir: string;
  files: NabFile[];
  byPath: Map<string, NabFile>;
  /** Windows listed in the label file: NAB's count of possible true positives. */
  labelWindowCount: number;
  /** Corpus-wide window ids run from 0 to windowIdCount - 1. */
  windowIdCount: number;
  /** Profiles from `config/profiles.json`, when present. */
  profiles: Partial<Record<string, NabCostMatrix>>;
}

export interface NabDetection {
  /** Optional; when given they must match the data file row for row. */
  timestamps?: readonly string[];
  scores: ArrayLike<number>;
}

export type NabDetections = ReadonlyMap<string, NabDetection>;

export interface NabCounts {
  tp: number;
  tn: number;
  fp: number;
  fn: number;
  total: number;
}

export interface NabFileScore extends NabCounts {
  file: string;
  raw: number;
}

export interface NabScore {
  /** Normalised: null detector = 0, perfect detector = 100. */
  score: number;
  raw: number;
  nullRaw: number;
  perfectRaw: number;
  threshold: number;
  counts: NabCounts;
  perFile: NabFileScore[];
}

export interface NabOptimum {
  threshold: number;
  /** Normalised score at the threshold. */
  score: number;
  raw: number;
  counts: NabCounts;
}

const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/;

/** Parses NAB's `YYYY-MM-DD HH:MM:SS[.ffffff]` as UTC milliseconds; NaN if malformed. */
export function parseNabTimestamp(text: string): number {
  const m = TIMESTAMP_RE.exec(text.trim());
  if (!m) return NaN;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  return ms + frac;
}

/** NAB's `Sweeper._getProbationaryLength`. */
export function nabProbationaryLength(rows: number, probationPercent = NAB_PROBATION_PERCENT): number {
  return Math.min(Math.floor(probationPercent * rows), probationPercent * 5000);
}

/** NAB's scaled sigmoid: 2 * sigmoid(-5x) - 1, and -1 beyond three window widths. */
export function nabScaledSigmoid(relativePosition: number): number {
  if (relativePosition > 3.0) return -1.0;
  return 2 * (1 / (1 + Math.exp(5 * relativePosition))) - 1.0;
}

const MAX_TP = nabScaledSigmoid(-1.0);

/**
 * Reads a NAB folder (`data/`, `labels/combined_windows.json`, `config/profiles.json`).
 * Every data file listed in the label file must exist and every window limit must be
 * one of that file's timestamps, as NAB's labeler requires.
 */
export function loadNabCorpus(nabDir: string): NabCorpus {
  const windowsPath = path.join(nabDir, 'labels', 'combined_windows.json');
  const windowsJson = readJsonFile(windowsPath) as Record<string, unknown>;
  if (typeof windowsJson !== 'object' || windowsJson === null || Array.isArray(windowsJson)) {
    throw new InputError('expected an object of file -> [[start, end], ...]', { file: windowsPath });
  }

  const files: NabFile[] = [];
  let labelWindowCount = 0;
  let windowIdCount = 0;
  for (const relativePath of Object.keys(windowsJson).sort()) {
    const limits = parseWindowLimits(windowsJson[relativePath], windowsPath, relativePath);
    labelWindowCount += limits.length;
    const file = loadNabFile(nabDir, relativePath, limits, windowIdCount);
    windowIdCount += limits.length;
    files.push(file);
  }

  const profilesPath = path.join(nabDir, 'config', 'profiles.json');
  const profiles: Record<string, NabCostMatrix> = {};
  if (exists(profilesPath)) {
    const raw = readJsonFile(profilesPath) as Record<string, { CostMatrix?: Partial<NabCostMatrix> }>;
    for (const [name, entry] of Object.entries(raw)) {
      const cm = entry?.CostMatrix;
      const ok = cm && ['tpWeight', 'fpWeight', 'fnWeight', 'tnWeight'].every((k) => Number.isFinite(cm[k as keyof NabCostMatrix]));
      if (!ok) throw new InputError(`profile "${name}" lacks a numeric CostMatrix`, { file: profilesPath });
      profiles[name] = { tpWeight: cm.tpWeight!, fpWeight: cm.fpWeight!, fnWeight: cm.fnWeight!, tnWeight: cm.tnWeight! };
    }
  }

  return {
    dir: nabDir,
    files,
    byPath: new Map(files.map((f) => [f.relativePath, f])),
    labelWindowCount,
    windowIdCount,
    profiles,
  };
}

function parseWindowLimits(value: unknown, file: string, relativePath: string): [string, string][] {
  if (!Array.isArray(value)) throw new InputError(`windows of "${relativePath}" must be a list`, { file });
  return value.map((w) => {
    if (!Array.isArray(w) || w.length !== 2 || typeof w[0] !== 'string' || typeof w[1] !== 'string') {
      throw new InputError(`a window of "${relativePath}" is not [start, end]`, { file });
    }
    return [w[0], w[1]];
  });
}

function loadNabFile(nabDir: string, relativePath: string, limits: [string, string][], idOffset: number): NabFile {
  const dataPath = path.join(nabDir, 'data', relativePath);
  const table = readCsvTable(dataPath);
  const tsCol = columnIndex(table, 'timestamp');
  const n = table.rows.length;
  const timestamps = new Array<string>(n);
  const times = new Float64Array(n);
  const firstIndexOf = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const ts = table.rows[i][tsCol];
    const t = parseNabTimestamp(ts);
    if (Number.isNaN(t)) throw new InputError(`bad timestamp "${ts}"`, { file: dataPath, line: i + 2, column: 'timestamp' });
    timestamps[i] = ts;
    times[i] = t;
    if (!firstIndexOf.has(t)) firstIndexOf.set(t, i);
  }

  const limitTimes = limits.map(([a, b]) => {
    const ta = parseNabTimestamp(a);
    const tb = parseNabTimestamp(b);
    const ia = firstIndexOf.get(ta);
    const ib = firstIndexOf.get(tb);
    if (ia === undefined || ib === undefined) {
      throw new InputError(`window [${a}, ${b}] of "${relativePath}" does not match timestamps in the data file`, {
        file: path.join(nabDir, 'labels', 'combined_windows.json'),
      });
    }
    return { startTime: ta, endTime: tb, start: ia, end: ib };
  });

  const probationaryLength = nabProbationaryLength(n);
  const rowWindow = new Int32Array(n);
  const rowSigmoid = new Float64Array(n);

  // A direct port of Sweeper.calcSweepScore's state machine (see module comment).
  let next = 0;
  let cur: { id: number; right: number; width: number; endTime: number } | null = null;
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    const t = times[i];
    if (next < limitTimes.length && t === limitTimes[next].startTime) {
      const lim = limitTimes[next];
      cur = { id: idOffset + next, right: lim.end, width: lim.end - lim.start + 1, endTime: lim.endTime };
      next++;
    }
    let sig: number;
    if (cur !== null) {
      sig = nabScaledSigmoid(-(cur.right - i + 1) / cur.width);
    } else if (prevRight < 0) {
      sig = -1.0;
    } else {
      // NAB divides by zero here after a one-row window; Infinity maps to -1 like a far FP.
      sig = nabScaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1));
    }
    rowSigmoid[i] = sig;
    rowWindow[i] = i >= probationaryLength ? (cur !== null ? cur.id : ROW_OUTSIDE) : ROW_PROBATIONARY;
    if (cur !== null && t === cur.endTime) {
      prevRight = i;
      prevWidth = cur.width;
      cur = null;
    }
  }

  return {
    relativePath,
    timestamps,
    times,
    windows: limitTimes.map((w) => ({ start: w.start, end: w.end })),
    probationaryLength,
    rowWindow,
    rowSigmoid,
  };
}

/** Value a flagged row adds under a profile (NAB's `sweepScore`). */
function weightedSweep(file: NabFile, row: number, profile: NabCostMatrix): number {
  const sig = file.rowSigmoid[row];
  return file.rowWindow[row] >= 0 ? (sig * profile.tpWeight) / MAX_TP : sig * profile.fpWeight;
}

function checkedScores(corpus: NabCorpus, detections: NabDetections): ArrayLike<number>[] {
  for (const key of detections.keys()) {
    if (!corpus.byPath.has(key)) throw new InputError(`detections for a file not in the corpus: "${key}"`);
  }
  return corpus.files.map((f) => {
    const det = detections.get(f.relativePath);
    if (!det) throw new InputError(`no detections for corpus file "${f.relativePath}"`);
    if (det.scores.length !== f.timestamps.length) {
      throw new InputError(`${det.scores.length} scores for ${f.timestamps.length} rows`, { file: f.relativePath });
    }
    if (det.timestamps) {
      if (det.timestamps.length !== f.timestamps.length) {
        throw new InputError(`${det.timestamps.length} timestamps for ${f.timestamps.length} rows`, { file: f.relativePath });
      }
      for (let i = 0; i < f.times.length; i++) {
        if (parseNabTimestamp(det.timestamps[i]) !== f.times[i]) {
          throw new InputError(`timestamp "${det.timestamps[i]}" differs from the data file's "${f.timestamps[i]}"`, {
            file: f.relativePath,
            line: i + 2,
          });
        }
      }
    }
    for (let i = 0; i < det.scores.length; i++) {
      if (Number.isNaN(det.scores[i])) throw new InputError('anomaly score is NaN', { file: f.relativePath, line: i + 2 });
    }
    return det.scores;
  });
}

/** Raw score of one file when rows satisfying `flagged` are detections. */
function scoreFile(file: NabFile, profile: NabCostMatrix, flagged: (row: number) => boolean): NabFileScore {
  const best = new Map<number, number>();
  let fpSum = 0;
  let tp = 0;
  let tn = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < file.rowWindow.length; i++) {
    const w = file.rowWindow[i];
    if (w === ROW_PROBATIONARY) continue;
    if (!best.has(w) && w >= 0) best.set(w, -profile.fnWeight);
    const hit = flagged(i);
    if (w >= 0) {
      if (hit) {
        tp++;
        best.set(w, Math.max(best.get(w)!, weightedSweep(file, i, profile)));
      } else fn++;
    } else if (hit) {
      fp++;
      fpSum += weightedSweep(file, i, profile);
    } else tn++;
  }
  let raw = fpSum;
  for (const v of best.values()) raw += v;
  return { file: file.relativePath, raw, tp, tn, fp, fn, total: tp + tn + fp + fn };
}

/**
 * NAB's null baseline: the null detector outputs 0.5 everywhere, so after optimisation
 * its score is the better of flagging nothing and flagging every row.
 */
export function nabNullRawScore(corpus: NabCorpus, profile: NabCostMatrix): number {
  let nothing = 0;
  let everything = 0;
  for (const f of corpus.files) {
    nothing += scoreFile(f, profile, () => false).raw;
    everything += scoreFile(f, profile, () => true).raw;
  }
  return Math.max(nothing, everything);
}

/** NAB's perfect score: every labelled window detected at its very start. */
export function nabPerfectRawScore(corpus: NabCorpus, profile: NabCostMatrix): number {
  return corpus.labelWindowCount * profile.tpWeight;
}

export function normaliseNabScore(raw: number, nullRaw: number, perfectRaw: number): number {
  return (100 * (raw - nullRaw)) / (perfectRaw - nullRaw);
}

/**
 * Scores a detector on the corpus at a fixed threshold (rows with score >= threshold are
 * detections), as NAB's scoring step does. Two deliberate differences, neither of which
 * changes a valid run: a threshold below every score in a file flags every row (NAB
 * fails there), and every corpus file must have detections (NAB silently scores only the
 * files a detector left results for, which would inflate an incomplete run).
 */
export function scoreNab(corpus: NabCorpus, detections: NabDetections, profile: NabCostMatrix, threshold: number): NabScore {
  const scores = checkedScores(corpus, detections);
  const perFile = corpus.files.map((f, k) => scoreFile(f, profile, (i) => scores[k][i] >= threshold));
  const counts: NabCounts = { tp: 0, tn: 0, fp: 0, fn: 0, total: 0 };
  let raw = 0;
  for (const r of perFile) {
    raw += r.raw;
    counts.tp += r.tp;
    counts.tn += r.tn;
    counts.fp += r.fp;
    counts.fn += r.fn;
    counts.total += r.total;
  }
  const nullRaw = nabNullRawScore(corpus, profile);
  const perfectRaw = nabPerfectRawScore(corpus, profile);
  return { score: normaliseNabScore(raw, nullRaw, perfectRaw), raw, nullRaw, perfectRaw, threshold, counts, perFile };
}

/**
 * NAB's threshold optimiser (Sweeper.calcScoreByThreshold over the whole corpus): sorts
 * every scored row once by anomaly score, lowers the threshold one distinct score at a
 * time and updates the raw score incrementally. Ties in the best raw score go to the
 * higher threshold, as NAB's stable sort does. O(n log n).
 */
export function optimiseThreshold(corpus: NabCorpus, detections: NabDetections, profile: NabCostMatrix): NabOptimum {
  const scores = checkedScores(corpus, detections);
  let n = 0;
  for (const f of corpus.files) for (let i = 0; i < f.rowWindow.length; i++) if (f.rowWindow[i] !== ROW_PROBATIONARY) n++;

  const rowScore = new Float64Array(n);
  const rowValue = new Float64Array(n);
  const rowWin = new Int32Array(n);
  let k = 0;
  let maxScore = -Infinity;
  corpus.files.forEach((f, fi) => {
    for (let i = 0; i < f.rowWindow.length; i++) {
      if (f.rowWindow[i] === ROW_PROBATIONARY) continue;
      rowScore[k] = scores[fi][i];
      rowValue[k] = weightedSweep(f, i, profile);
      rowWin[k] = f.rowWindow[i];
      if (rowScore[k] > maxScore) maxScore = rowScore[k];
      k++;
    }
  });

  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => rowScore[b] - rowScore[a]);

  const windowBest = new Float64Array(corpus.windowIdCount).fill(NaN);
  let windowSum = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    const w = rowWin[i];
    if (w >= 0) {
      fn++;
      if (Number.isNaN(windowBest[w])) {
        windowBest[w] = -profile.fnWeight;
        windowSum -= profile.fnWeight;
      }
    } else tn++;
  }
  let tp = 0;
  let fp = 0;
  let fpSum = 0;

  // NAB starts at 1.1, above every score in its [0, 1] range, meaning "flag nothing".
  let current = maxScore < 1.1 ? 1.1 : Infinity;
  let bestRaw = -Infinity;
  let bestThreshold = current;
  let bestCounts: NabCounts = { tp, tn, fp, fn, total: n };
  const record = () => {
    const raw = windowSum + fpSum;
    if (raw > bestRaw) {
      bestRaw = raw;
      bestThreshold = current;
      bestCounts = { tp, tn, fp, fn, total: tp + tn + fp + fn };
    }
  };
  for (let j = 0; j < n; j++) {
    const r = order[j];
    if (rowScore[r] !== current) {
      record();
      current = rowScore[r];
    }
    const w = rowWin[r];
    if (w >= 0) {
      tp++;
      fn--;
      if (rowValue[r] > windowBest[w]) {
        windowSum += rowValue[r] - windowBest[w];
        windowBest[w] = rowValue[r];
      }
    } else {
      fp++;
      tn--;
      fpSum += rowValue[r];
    }
  }
  record();

  const nullRaw = nabNullRawScore(corpus, profile);
  return {
    threshold: bestThreshold,
    score: normaliseNabScore(bestRaw, nullRaw, nabPerfectRawScore(corpus, profile)),
    raw: bestRaw,
    counts: bestCounts,
  };
}

/**
 * Reads NAB results files `<resultsDir>/<detector>/<category>/<detector>_<file>.csv`
 * (columns include `timestamp` and `anomaly_score`) for every corpus file.
 */
export function readNabResults(resultsDir: string, detector: string, corpus: NabCorpus): Map<string, NabDetection> {
  const out = new Map<string, NabDetection>();
  for (const f of corpus.files) {
    const file = nabResultsPath(resultsDir, detector, f.relativePath);
    const table = readCsvTable(file);
    const tsCol = columnIndex(table, 'timestamp');
    const scoreCol = columnIndex(table, 'anomaly_score');
    const scores = new Float64Array(table.rows.length);
    const timestamps = new Array<string>(table.rows.length);
    for (let i = 0; i < table.rows.length; i++) {
      scores[i] = numberAt(table, i, scoreCol);
      timestamps[i] = table.rows[i][tsCol];
    }
    out.set(f.relativePath, { timestamps, scores });
  }
  return out;
}

export function nabResultsPath(resultsDir: string, detector: string, relativePath: string): string {
  const dir = path.dirname(relativePath);
  return path.join(resultsDir, detector, dir, `${detector}_${path.basename(relativePath)}`);
}

export interface NabResultRow {
  timestamp: string;
  value: number;
  anomalyScore: number;
  label: 0 | 1;
}

/**
 * Writes one file's detector output in NAB's results layout, so NAB's own Python can
 * score it: `<outDir>/<detector>/<category>/<detector>_<file>.csv`. Returns the path.
 */
export function writeNabResults(outDir: string, detector: string, relativePath: string, rows: readonly NabResultRow[]): string {
  if (!/^[A-Za-z0-9._-]+$/.test(detector)) throw new InputError(`detector name "${detector}" must be a plain file-name word`);
  if (path.isAbsolute(relativePath) || relativePath.split(/[\\/]/).includes('..')) {
    throw new InputError(`"${relativePath}" must be a path relative to NAB's data folder`);
  }
  const file = nabResultsPath(outDir, detector, relativePath);
  mkdirSync(path.dirname(file), { recursive: true });
  const lines = ['timestamp,value,anomaly_score,label'];
  for (const r of rows) {
    if (r.timestamp.includes(',')) throw new InputError(`timestamp "${r.timestamp}" contains a comma`, { file });
    lines.push(`${r.timestamp},${r.value},${r.anomalyScore},${r.label}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function exists(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Lists the data files of a NAB folder (relative paths), for callers that need no labels. */
export function listNabDataFiles(nabDir: string): string[] {
  const root = path.join(nabDir, 'data');
  const out: string[] = [];
  for (const category of readdirSync(root).sort()) {
    const dir = path.join(root, category);
    if (!statSync(dir).isDirectory()) continue;
    for (const name of readdirSync(dir).sort()) if (name.endsWith('.csv')) out.push(`${category}/${name}`);
  }
  return out;
}
