/**
 * The three corpora of `noisefloor evaluate` and their reports.
 *
 * - nab: every data file is one unit; the model learns from the file's probationary
 *   period (NAB's first 15%, at most 750 rows) and then streams the whole file. Row
 *   scores (see rows.ts) are post-processed, written in NAB's results layout and scored
 *   by the NAB v1.1 algorithm with its threshold optimiser, for the three profiles.
 * - smap-msl: every channel is one unit: train on `<chan>_train.csv`, stream
 *   `<chan>_test.csv`. Per channel and macro-averaged: AUC-PR, VUS-PR, event-wise F1 at
 *   the best threshold and at the model's calibrated threshold (no labels), for the model
 *   and the robust-z and kNN baselines on the same windows.
 * - labelled-csv: a folder of CSVs with a 0/1 label column; `<name>_train.csv` beside a
 *   file is its normal data, else its first `evaluate.trainFraction` rows are. Metrics on
 *   the rows after the training part. Same metrics as smap-msl.
 *
 * Labels are read only here, after scoring; the units never see them.
 */
import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { EvaluateConfig, FusionPart, PostprocessConfig } from './config.js';
import { columnIndex, numberAt, readCsvTable } from './csv.js';
import { baselineWindowScores, type CorpusName, type EvalUnit, type UnitResult } from './engine.js';
import { aucPr, bestCompositeEventF1, eventF1, vus, type EventScores } from './metrics.js';
import {
  listNabDataFiles,
  loadNabCorpus,
  NAB_PROFILE_NAMES,
  nabProbationaryLength,
  optimiseThreshold,
  writeNabResults,
  type NabCorpus,
  type NabDetection,
} from './nab.js';
import { fusedResult, insertionGuard, memoryWindowScores, unitSurprises, type MemoryWindowScores, type UnitSurprises } from './fusion.js';
import { isCustomResolution, memoryAtResolution, scoresAtRows, unitResolution, type Resolution } from './resolution.js';
import { fuseSurprises } from '../scoring/fusion.js';
import { postprocessRows, windowScoresToRows } from './rows.js';
import { runUnits, type RunUnitsOptions } from './runner.js';
import { globToRegExp } from '../util/glob.js';
import { listSmapChannels, loadSmapLabels, smapRowLabels } from './smap.js';

export const NAB_DETECTOR_NAME = 'noisefloor';

/** Glob over unit ids (util/glob.ts: `*` within a path segment, `**` across, `?` one character, `[...]`); comma-separated alternatives. */
export function unitFilter(patterns: string | undefined): (id: string) => boolean {
  if (!patterns) return () => true;
  const res = patterns
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map(globToRegExp);
  // A pattern without a folder part also matches the file name alone.
  return (id) => res.some((r) => r.test(id) || r.test(path.basename(id)));
}

function countRows(file: string, delimiter?: string): number {
  return readCsvTable(file, delimiter).rows.length;
}

export function nabUnits(dataDir: string, filter: (id: string) => boolean): EvalUnit[] {
  return listNabDataFiles(dataDir)
    .filter(filter)
    .map((rel) => {
      const testFile = path.join(dataDir, 'data', rel);
      return { corpus: 'nab' as const, id: rel, testFile, trainRows: nabProbationaryLength(countRows(testFile)) };
    });
}

export function smapUnits(dataDir: string, filter: (id: string) => boolean): EvalUnit[] {
  return listSmapChannels(dataDir)
    .filter(filter)
    .map((id) => ({ corpus: 'smap-msl' as const, id, testFile: path.join(dataDir, `${id}_test.csv`), trainFile: path.join(dataDir, `${id}_train.csv`) }));
}

export function labelledCsvUnits(dataDir: string, filter: (id: string) => boolean, config: EvaluateConfig): EvalUnit[] {
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw new InputError('labelled-csv --data must be a folder of CSV files', { file: dataDir });
  const names = readdirSync(dataDir)
    .filter((n) => n.endsWith('.csv') && !n.endsWith('_train.csv'))
    .sort();
  return names.filter(filter).map((name) => {
    const testFile = path.join(dataDir, name);
    const trainFile = path.join(dataDir, name.replace(/\.csv$/, '_train.csv'));
    const unit: EvalUnit = { corpus: 'labelled-csv', id: name, testFile, excludeColumns: [config.evaluate.labelColumn] };
    if (existsSync(trainFile)) unit.trainFile = trainFile;
    else unit.trainRows = Math.floor(countRows(testFile, config.data.delimiter) * config.evaluate.trainFraction);
    return unit;
  });
}

/** Metrics of one score series against labels. */
export interface SeriesMetrics {
  aucPr: number;
  vusPr: number;
  /** Event-wise scores at the threshold maximising composite F1 (labels used: an upper bound). */
  best: EventScores;
}

export function seriesMetrics(scores: Float64Array, labels: Uint8Array, maxBuffer: number): SeriesMetrics {
  return { aucPr: aucPr(scores, labels), vusPr: vus(scores, labels, maxBuffer).vusPr, best: bestCompositeEventF1(scores, labels) };
}

export interface UnitMetrics {
  id: string;
  rows: number;
  labelEvents: number;
  model: SeriesMetrics & { calibrated: EventScores };
  robustZ?: SeriesMetrics;
  knn?: SeriesMetrics;
  /** Other score variants of the model (single fusion parts, other fusions), same metrics. */
  variants?: { name: string; metrics: SeriesMetrics & { calibrated: EventScores } }[];
  seconds: UnitResult['seconds'];
}

/** A score variant of every unit: the same results with another fusion of parts. */
export interface ResultVariant {
  name: string;
  results: UnitResult[];
}

/** Metrics of a unit on rows [from, rows): model, calibrated threshold, baselines. */
export function unitMetrics(r: UnitResult, labels: Uint8Array, from: number, maxBuffer: number, variants: { name: string; result: UnitResult }[] = []): UnitMetrics {
  const cut = (a: Float64Array) => a.subarray(from);
  const lab = labels.subarray(from);
  const modelMetrics = (x: UnitResult) => ({
    ...seriesMetrics(cut(windowScoresToRows(x.rows, x.windowEnd, x.raw, 0)), lab, maxBuffer),
    calibrated: eventF1(cut(windowScoresToRows(x.rows, x.windowEnd, x.flagged, 0)), lab, 1),
  });
  const out: UnitMetrics = {
    id: r.id,
    rows: lab.length,
    labelEvents: 0,
    model: modelMetrics(r),
    seconds: r.seconds,
  };
  if (variants.length) out.variants = variants.map((v) => ({ name: v.name, metrics: modelMetrics(v.result) }));
  out.labelEvents = out.model.best.labelEvents;
  if (r.baselines) {
    out.robustZ = seriesMetrics(cut(windowScoresToRows(r.rows, r.windowEnd, r.baselines.robustZ, 0)), lab, maxBuffer);
    out.knn = seriesMetrics(cut(windowScoresToRows(r.rows, r.windowEnd, r.baselines.knn, 0)), lab, maxBuffer);
  }
  return out;
}

export interface AggregateRow {
  detector: string;
  aucPr: number;
  vusPr: number;
  bestEventF1: number;
  bestCompositeF1: number;
  /** At the calibrated threshold (model only). */
  calibratedEventF1?: number;
  calibratedCompositeF1?: number;
  calibratedPrecision?: number;
  calibratedRecall?: number;
}

function mean(xs: number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN;
}

/** Macro averages over units that have at least one label event. */
export function aggregate(units: UnitMetrics[]): AggregateRow[] {
  const withEvents = units.filter((u) => u.labelEvents > 0);
  const rows: AggregateRow[] = [];
  const of = (name: string, get: (u: UnitMetrics) => SeriesMetrics | undefined) => {
    const ms = withEvents.map(get).filter((m): m is SeriesMetrics => m !== undefined);
    if (!ms.length) return;
    rows.push({
      detector: name,
      aucPr: mean(ms.map((m) => m.aucPr)),
      vusPr: mean(ms.map((m) => m.vusPr)),
      bestEventF1: mean(ms.map((m) => m.best.f1)),
      bestCompositeF1: mean(ms.map((m) => m.best.compositeF1)),
    });
  };
  of('noisefloor', (u) => u.model);
  const m = rows[0];
  if (m) {
    m.calibratedEventF1 = mean(withEvents.map((u) => u.model.calibrated.f1));
    m.calibratedCompositeF1 = mean(withEvents.map((u) => u.model.calibrated.compositeF1));
    m.calibratedPrecision = mean(withEvents.map((u) => u.model.calibrated.precision));
    m.calibratedRecall = mean(withEvents.map((u) => u.model.calibrated.recall));
  }
  const names = [...new Set(withEvents.flatMap((u) => (u.variants ?? []).map((v) => v.name)))];
  for (const name of names) {
    const get = (u: UnitMetrics) => u.variants?.find((v) => v.name === name)?.metrics;
    of(`noisefloor: ${name}`, get);
    const row = rows[rows.length - 1];
    const cal = withEvents.map(get).filter((m) => m !== undefined).map((m) => m.calibrated);
    row.calibratedEventF1 = mean(cal.map((c) => c.f1));
    row.calibratedCompositeF1 = mean(cal.map((c) => c.compositeF1));
    row.calibratedPrecision = mean(cal.map((c) => c.precision));
    row.calibratedRecall = mean(cal.map((c) => c.recall));
  }
  of('robust-z', (u) => u.robustZ);
  of('kNN', (u) => u.knn);
  return rows;
}

export interface RangeReport {
  corpus: CorpusName;
  units: UnitMetrics[];
  aggregate: AggregateRow[];
  bySpacecraft?: Record<string, AggregateRow[]>;
}

export interface NabProfileResult {
  profile: string;
  score: number;
  threshold: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface NabReport {
  corpus: 'nab';
  files: number;
  /** The configured post-processing: the headline. */
  headline: { postprocess: PostprocessConfig; parts: FusionPart[]; profiles: NabProfileResult[] };
  /** Other post-processings of the same window scores (chosen after the headline; for discussion only). */
  ablations: { name: string; postprocess: PostprocessConfig; profiles: NabProfileResult[] }[];
  /** The robust-z and kNN baselines through the same post-processing (when evaluate.baselines.enabled). */
  baselines: { name: string; profiles: NabProfileResult[] }[];
  /** Other fusions of the model's parts (each part alone, ...) through the configured post-processing, with and without the spatial check. */
  variants: { name: string; profiles: NabProfileResult[] }[];
  resultsDir: string;
}

/** A NAB corpus restricted to some files (for --files runs); window ids stay corpus-wide. */
export function restrictNabCorpus(corpus: NabCorpus, keep: Set<string>): NabCorpus {
  const files = corpus.files.filter((f) => keep.has(f.relativePath));
  return { ...corpus, files, byPath: new Map(files.map((f) => [f.relativePath, f])), labelWindowCount: files.reduce((s, f) => s + f.windows.length, 0) };
}

/** The value column of a NAB file (for the spatial check and the results files). */
function nabValues(file: string): Float64Array {
  const t = readCsvTable(file);
  const c = columnIndex(t, 'value');
  return Float64Array.from(t.rows, (_, i) => numberAt(t, i, c));
}

export function nabRowScores(r: UnitResult, values: Float64Array, trainRows: number, pp: PostprocessConfig): Float64Array {
  const rows = postprocessRows({ rows: r.rows, windowEnd: r.windowEnd, raw: r.raw, score: r.score, probationaryRows: trainRows, values }, pp);
  // NAB expects scores in [0, 1]; only the raw output needs mapping (monotone, per file).
  if (pp.output === 'raw') for (let i = 0; i < rows.length; i++) rows[i] = rows[i] / (1 + rows[i]);
  for (let i = 0; i < rows.length; i++) rows[i] = Math.min(1, Math.max(0, rows[i]));
  return rows;
}

function scoreNabProfiles(corpus: NabCorpus, detections: Map<string, NabDetection>): NabProfileResult[] {
  return NAB_PROFILE_NAMES.map((name) => {
    const profile = corpus.profiles[name];
    if (!profile) throw new InputError(`NAB profile "${name}" missing from config/profiles.json`);
    const o = optimiseThreshold(corpus, detections, profile);
    return { profile: name, score: o.score, threshold: o.threshold, tp: o.counts.tp, fp: o.counts.fp, fn: o.counts.fn };
  });
}

export function nabAblations(pp: PostprocessConfig): { name: string; postprocess: PostprocessConfig }[] {
  const lik = (input: PostprocessConfig['likelihoodInput'], spatial: number | null): PostprocessConfig => ({
    ...pp,
    output: 'likelihood',
    likelihoodInput: input,
    spatialTolerance: spatial,
  });
  return [
    { name: 'spatial check 0.05 alone (no model)', postprocess: { ...pp, output: 'none', spatialTolerance: 0.05 } },
    { name: 'calibrated score only', postprocess: { ...pp, output: 'calibrated', spatialTolerance: null } },
    { name: 'calibrated score + spatial 0.05', postprocess: { ...pp, output: 'calibrated', spatialTolerance: 0.05 } },
    { name: 'likelihood of calibrated score', postprocess: lik('calibrated', null) },
    { name: 'likelihood of calibrated score + spatial 0.05', postprocess: lik('calibrated', 0.05) },
    { name: 'likelihood of surprise', postprocess: lik('surprise', null) },
    { name: 'likelihood of surprise + spatial 0.05', postprocess: lik('surprise', 0.05) },
  ];
}

export function nabReport(
  dataDir: string,
  units: EvalUnit[],
  results: UnitResult[],
  config: EvaluateConfig,
  outDir: string,
  baselineScores?: Awaited<ReturnType<typeof baselineWindowScores>>[],
  variants: ResultVariant[] = [],
): NabReport {
  const corpus = restrictNabCorpus(loadNabCorpus(dataDir), new Set(units.map((u) => u.id)));
  const values = new Map(units.map((u) => [u.id, nabValues(u.testFile)]));
  const detectionsFor = (pp: PostprocessConfig) => {
    const m = new Map<string, NabDetection>();
    results.forEach((r, i) => m.set(r.id, { scores: nabRowScores(r, values.get(r.id)!, units[i].trainRows ?? 0, pp) }));
    return m;
  };
  const pp = config.evaluate.postprocess;
  const head = detectionsFor(pp);
  const resultsDir = path.join(outDir, 'nab-results');
  for (const f of corpus.files) {
    const s = head.get(f.relativePath)!.scores;
    const v = values.get(f.relativePath)!;
    const label = new Uint8Array(f.timestamps.length);
    for (const w of f.windows) label.fill(1, w.start, w.end + 1);
    writeNabResults(
      resultsDir,
      NAB_DETECTOR_NAME,
      f.relativePath,
      f.timestamps.map((timestamp, i) => ({ timestamp, value: v[i], anomalyScore: Number(s[i].toFixed(8)), label: label[i] as 0 | 1 })),
    );
  }
  const same = (a: PostprocessConfig, b: PostprocessConfig) => JSON.stringify(a) === JSON.stringify(b);
  return {
    corpus: 'nab',
    files: corpus.files.length,
    headline: { postprocess: pp, parts: config.evaluate.fusion.parts, profiles: scoreNabProfiles(corpus, head) },
    ablations: nabAblations(pp)
      .filter((a) => !same(a.postprocess, pp))
      .map((a) => ({ ...a, profiles: scoreNabProfiles(corpus, detectionsFor(a.postprocess)) })),
    baselines: baselineScores ? nabBaselineProfiles(corpus, units, baselineScores, values, pp) : [],
    variants: variants.flatMap((v) =>
      [pp.spatialTolerance, null]
        .filter((sp, i) => i === 0 || pp.spatialTolerance !== null)
        .map((spatial) => {
          const p: PostprocessConfig = { ...pp, spatialTolerance: spatial };
          const m = new Map<string, NabDetection>();
          v.results.forEach((r, i) => m.set(r.id, { scores: nabRowScores(r, values.get(r.id)!, units[i].trainRows ?? 0, p) }));
          return { name: `${v.name}${spatial !== null ? ` + spatial ${spatial}` : ' (no spatial check)'}`, profiles: scoreNabProfiles(corpus, m) };
        }),
    ),
    resultsDir,
  };
}

/**
 * Robust z and kNN through the configured post-processing. Their scores are unbounded
 * and near 0 for normal windows, like the surprise, so they enter the likelihood as they
 * are (no calibration of their own). The kNN memory is the probationary period; neither
 * baseline adapts.
 */
function nabBaselineProfiles(
  corpus: NabCorpus,
  units: EvalUnit[],
  scores: Awaited<ReturnType<typeof baselineWindowScores>>[],
  values: Map<string, Float64Array>,
  pp: PostprocessConfig,
): NabReport['baselines'] {
  const out: NabReport['baselines'] = [];
  for (const name of ['robust-z', 'kNN'] as const) {
    for (const spatial of [pp.spatialTolerance, null]) {
      const p: PostprocessConfig = { ...pp, output: 'likelihood', likelihoodInput: 'calibrated', spatialTolerance: spatial };
      const m = new Map<string, NabDetection>();
      units.forEach((u, i) => {
        const b = scores[i];
        const s = name === 'kNN' ? b.knn : b.robustZ;
        const rows = postprocessRows({ rows: b.rows, windowEnd: b.windowEnd, raw: s, score: s, probationaryRows: u.trainRows ?? 0, values: values.get(u.id) }, p);
        m.set(u.id, { scores: rows });
      });
      out.push({ name: `${name}: likelihood${spatial !== null ? ` + spatial ${spatial}` : ''}`, profiles: scoreNabProfiles(corpus, m) });
      if (pp.spatialTolerance === null) break;
    }
  }
  return out;
}

export function smapReport(dataDir: string, results: UnitResult[], config: EvaluateConfig, variants: ResultVariant[] = []): RangeReport {
  const labels = loadSmapLabels(dataDir);
  const units = results.map((r, i) =>
    unitMetrics(r, smapRowLabels(labels.get(r.id)!), 0, config.evaluate.vusMaxBuffer, variants.map((v) => ({ name: v.name, result: v.results[i] }))),
  );
  const bySpacecraft: Record<string, AggregateRow[]> = {};
  for (const sc of [...new Set(units.map((u) => u.id.split('/')[0]))].sort()) bySpacecraft[sc] = aggregate(units.filter((u) => u.id.startsWith(sc + '/')));
  return { corpus: 'smap-msl', units, aggregate: aggregate(units), bySpacecraft };
}

export function labelledCsvReport(units: EvalUnit[], results: UnitResult[], config: EvaluateConfig, variants: ResultVariant[] = []): RangeReport {
  const metrics = results.map((r, i) => {
    const t = readCsvTable(units[i].testFile, config.data.delimiter);
    const c = columnIndex(t, config.evaluate.labelColumn);
    const labels = Uint8Array.from(t.rows, (_, k) => {
      const v = numberAt(t, k, c);
      if (v !== 0 && v !== 1) throw new InputError(`label must be 0 or 1, got ${v}`, { file: t.file, line: k + 2, column: config.evaluate.labelColumn });
      return v;
    });
    return unitMetrics(
      r,
      labels,
      units[i].trainFile ? 0 : (units[i].trainRows ?? 0),
      config.evaluate.vusMaxBuffer,
      variants.map((v) => ({ name: v.name, result: v.results[i] })),
    );
  });
  return { corpus: 'labelled-csv', units: metrics, aggregate: aggregate(metrics) };
}

export interface EvaluateRunOptions extends Omit<RunUnitsOptions, 'units'> {
  corpus: CorpusName;
  dataDir: string;
  files?: string;
  log: Logger;
}

export interface EvaluateRunResult {
  report: NabReport | RangeReport;
  results: UnitResult[];
  units: EvalUnit[];
  markdown: string;
  wallSeconds: number;
}

/** Runs a corpus end to end and writes `<out>/<corpus>/report.json` and `report.md`. */
export async function runEvaluation(opts: EvaluateRunOptions): Promise<EvaluateRunResult> {
  const started = Date.now();
  const filter = unitFilter(opts.files);
  const units =
    opts.corpus === 'nab'
      ? nabUnits(opts.dataDir, filter)
      : opts.corpus === 'smap-msl'
        ? smapUnits(opts.dataDir, filter)
        : labelledCsvUnits(opts.dataDir, filter, opts.config);
  if (units.length === 0) throw new InputError(`no ${opts.corpus} files${opts.files ? ` match --files ${opts.files}` : ''}`, { file: opts.dataDir });
  const networkResults = await runUnits({ ...opts, units });
  const corpusOut = path.join(opts.outDir, opts.corpus);
  mkdirSync(corpusOut, { recursive: true });
  const { fused: results, variants, memory } = await fuseResults(units, networkResults, opts.config, opts.log);
  const report =
    opts.corpus === 'nab'
      ? nabReport(
          opts.dataDir,
          units,
          results,
          opts.config,
          corpusOut,
          opts.config.evaluate.baselines.enabled ? await Promise.all(units.map((u) => baselineWindowScores(u, opts.config))) : undefined,
          variants,
        )
      : opts.corpus === 'smap-msl'
        ? smapReport(opts.dataDir, results, opts.config, variants)
        : labelledCsvReport(units, results, opts.config, variants);
  const wallSeconds = (Date.now() - started) / 1000;
  const timing = timingSummary(results, wallSeconds, memory);
  const markdown = report.corpus === 'nab' ? nabMarkdown(report as NabReport, timing) : rangeMarkdown(report as RangeReport, timing);
  writeFileSync(path.join(corpusOut, 'report.json'), JSON.stringify({ ...report, timing }, null, 2) + '\n');
  writeFileSync(path.join(corpusOut, 'report.md'), markdown);
  return { report, results, units, markdown, wallSeconds };
}

/** Every non-empty subset of the parts a unit has, the configured one first. */
function partSubsets(configured: readonly FusionPart[], available: readonly FusionPart[]): FusionPart[][] {
  const out: FusionPart[][] = [];
  for (let mask = 1; mask < 1 << available.length; mask++) {
    const set = available.filter((_, i) => mask & (1 << i));
    if (set.length !== configured.length || set.some((p) => !configured.includes(p))) out.push(set);
  }
  return out;
}

/**
 * The configured fusion of every unit, and every other fusion of the parts the units have
 * (each part alone, pairs, all) as variants reported beside it. The memory is built and
 * streamed here when enabled or configured.
 */
export async function fuseResults(
  units: EvalUnit[],
  results: UnitResult[],
  config: EvaluateConfig,
  log: Logger,
): Promise<{ fused: UnitResult[]; variants: ResultVariant[]; memory?: MemoryWindowScores[] }> {
  const ev = config.evaluate;
  const parts = ev.fusion.parts;
  const withMemory = ev.memory.enabled || parts.includes('memory');
  const surprises: UnitSurprises[] = [];
  const memory: MemoryWindowScores[] = [];
  for (let i = 0; i < units.length; i++) {
    const base = unitSurprises(results[i], config);
    if (withMemory) {
      const m = await memoryAtRows(units[i], results[i], config, insertionGuard(parts, base));
      memory.push(m);
      surprises.push(unitSurprises(results[i], config, m));
    } else surprises.push(base);
  }
  if (withMemory) log.info('window memory scored', { units: units.length, seconds: Number(memory.reduce((a, m) => a + m.seconds, 0).toFixed(1)) });
  const available = (['network', 'residual', 'memory'] as const).filter((p) => surprises.every((s) => s[p] !== undefined));
  const fused = results.map((r, i) => fusedResult(r, parts, surprises[i], config));
  // The model alone (the default) reports as it always did; other parts bring their ablations.
  const extra = withMemory || parts.length > 1 || parts[0] !== 'network';
  const variants = (extra ? partSubsets(parts, available) : []).map((set) => ({
    name: set.length === 1 && set[0] === 'network' ? "network alone (the model's own score)" : `fusion of ${set.join(' + ')}`,
    results: results.map((r, i) => fusedResult(r, set, surprises[i], config)),
  }));
  return { fused, variants, memory: withMemory ? memory : undefined };
}

/**
 * The window memory's scores at the detector's windows. At a resolution other than every
 * row with the configured window (evaluate.resolution), the memory scores its own coarse
 * window ending at every row (src/eval/resolution.ts) and the detector's windows take the
 * score of the coarse window ending at their last row (0 before the first one); the
 * insertion guard sees the other parts of the detector's window ending at the same row.
 * With further resolutions (`resolution.also`) each has a memory of its own and the
 * surprise is the fusion of theirs (largest minus log10 of their number); each memory's
 * insertion guard sees its own surprise, not the fused one (they stream one after the
 * other). `score` is then that fused surprise too.
 */
export async function memoryAtRows(unit: EvalUnit, result: UnitResult, config: EvaluateConfig, guard: (k: number, memorySurprise: number) => number): Promise<MemoryWindowScores> {
  const normalRows = unit.trainFile ? countRows(unit.trainFile, config.data.delimiter) : (unit.trainRows ?? 0);
  const specs = [config.evaluate.resolution, ...config.evaluate.resolution.also];
  const each: MemoryWindowScores[] = [];
  for (const spec of specs) each.push(await memoryAtResolutionOfRows(unit, result, config, unitResolution(config, normalRows, spec), guard));
  if (each.length === 1) return each[0];
  const surprise = result.windowEnd.map((_, k) => fuseSurprises(each.map((m) => m.surprise[k])));
  const sum = (f: (m: MemoryWindowScores) => number) => each.reduce((a, m) => a + f(m), 0);
  return {
    windowEnd: [...result.windowEnd],
    score: surprise,
    surprise,
    size: sum((m) => m.size),
    inserted: sum((m) => m.inserted),
    bytes: sum((m) => m.bytes),
    flopsPerWindow: sum((m) => m.flopsPerWindow),
    seconds: sum((m) => m.seconds),
  };
}

async function memoryAtResolutionOfRows(
  unit: EvalUnit,
  result: UnitResult,
  config: EvaluateConfig,
  res: Resolution,
  guard: (k: number, memorySurprise: number) => number,
): Promise<MemoryWindowScores> {
  if (!isCustomResolution(res, config)) return memoryWindowScores(unit, config, guard);
  const detectorIndex = new Map(result.windowEnd.map((e, k) => [e, k]));
  const m = await memoryAtResolution(unit, config, res, (row, s) => {
    const k = detectorIndex.get(row);
    return k === undefined ? s : guard(k, s);
  });
  return {
    ...m,
    windowEnd: [...result.windowEnd],
    score: scoresAtRows(m.windowEnd, m.score, result.windowEnd, 0),
    surprise: scoresAtRows(m.windowEnd, m.surprise, result.windowEnd, 0),
  };
}

export interface TimingSummary {
  wallSeconds: number;
  units: number;
  models: number;
  rows: number;
  windows: number;
  /** Sums over units of the time spent (in whichever process ran the unit). */
  trainSeconds: number;
  scoreSeconds: number;
  baselineSeconds: number;
  /** Window memory (when enabled): seconds summed over units, mean size, mean FLOPs per window. */
  memory?: { seconds: number; meanSize: number; meanBytes: number; flopsPerWindow: number; inserted: number };
}

function timingSummary(results: UnitResult[], wallSeconds: number, memory?: MemoryWindowScores[]): TimingSummary {
  const sum = (f: (r: UnitResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const mean = (f: (m: MemoryWindowScores) => number) => (memory && memory.length ? memory.reduce((a, m) => a + f(m), 0) / memory.length : 0);
  return {
    ...(memory
      ? {
          memory: {
            seconds: memory.reduce((a, m) => a + m.seconds, 0),
            meanSize: mean((m) => m.size),
            meanBytes: mean((m) => m.bytes),
            flopsPerWindow: mean((m) => m.flopsPerWindow),
            inserted: memory.reduce((a, m) => a + m.inserted, 0),
          },
        }
      : {}),
    wallSeconds,
    units: results.length,
    models: sum((r) => r.models.length),
    rows: sum((r) => r.rows),
    windows: sum((r) => r.windowEnd.length),
    trainSeconds: sum((r) => r.seconds.train),
    scoreSeconds: sum((r) => r.seconds.score),
    baselineSeconds: sum((r) => r.seconds.baselines),
  };
}

const f3 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(3));
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');

function timingLine(t: TimingSummary): string {
  return (
    `Wall time ${t.wallSeconds.toFixed(0)} s for ${t.units} units (${t.models} models, ${t.rows} rows, ${t.windows} windows); ` +
    `summed over units: training ${t.trainSeconds.toFixed(0)} s, scoring ${t.scoreSeconds.toFixed(0)} s, baselines ${t.baselineSeconds.toFixed(0)} s` +
    ` (cached units count with the times of the run that computed them).\n` +
    (t.memory
      ? `Window memory: ${t.memory.seconds.toFixed(1)} s summed over units, mean ${t.memory.meanSize.toFixed(0)} windows (${(t.memory.meanBytes / 1024).toFixed(0)} KiB) per unit, ` +
        `${(t.memory.flopsPerWindow / 1000).toFixed(1)} kFLOP per window, ${t.memory.inserted} windows inserted while streaming.\n`
      : '')
  );
}

function describePp(pp: PostprocessConfig): string {
  const base = pp.output === 'likelihood' ? `anomaly likelihood of ${pp.likelihoodInput} score${pp.logLikelihood ? ' (log scale)' : ''}` : `${pp.output} score`;
  const withSpatial = pp.spatialTolerance === null ? base : `${base} + spatial check ${pp.spatialTolerance}`;
  return pp.refractory?.rows ? `${withSpatial}, refractory ${pp.refractory.rows} rows` : withSpatial;
}

export function nabMarkdown(r: NabReport, t: TimingSummary): string {
  const row = (name: string, ps: NabProfileResult[]) => `| ${name} | ${ps.map((p) => f1(p.score)).join(' | ')} |`;
  const lines = [
    `# NAB v1.1 (${r.files} files)`,
    '',
    '| detector | standard | reward_low_FP_rate | reward_low_FN_rate |',
    '|---|---|---|---|',
    row(`noisefloor [${(r.headline.parts ?? ['network']).join(' + ')}]: ${describePp(r.headline.postprocess)} (configured)`, r.headline.profiles),
    ...r.ablations.map((a) => row(`noisefloor: ${a.name} (ablation)`, a.profiles)),
    ...(r.variants ?? []).map((v) => row(`noisefloor: ${v.name} (part ablation)`, v.profiles)),
    ...r.baselines.map((b) => row(`baseline ${b.name}`, b.profiles)),
    '',
    'Thresholds (optimised per profile by the NAB algorithm): ' +
      r.headline.profiles.map((p) => `${p.profile} ${p.threshold.toPrecision(4)} (TP rows ${p.tp}, FP rows ${p.fp})`).join('; '),
    '',
    timingLine(t),
  ];
  return lines.join('\n');
}

export function rangeMarkdown(r: RangeReport, t: TimingSummary): string {
  const table = (rows: AggregateRow[]) => [
    '| detector | AUC-PR | VUS-PR | best event F1 | best composite F1 | calibrated event F1 (P / R) | calibrated composite F1 |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (a) =>
        `| ${a.detector} | ${f3(a.aucPr)} | ${f3(a.vusPr)} | ${f3(a.bestEventF1)} | ${f3(a.bestCompositeF1)} | ` +
        (a.calibratedEventF1 === undefined ? '— | — |' : `${f3(a.calibratedEventF1)} (${f3(a.calibratedPrecision)} / ${f3(a.calibratedRecall)}) | ${f3(a.calibratedCompositeF1)} |`),
    ),
  ];
  const lines = [`# ${r.corpus} (${r.units.length} units, macro averages over units with anomalies)`, '', ...table(r.aggregate), ''];
  for (const [sc, rows] of Object.entries(r.bySpacecraft ?? {})) lines.push(`## ${sc}`, '', ...table(rows), '');
  lines.push(
    '## Per unit (AUC-PR model / robust-z / kNN; VUS-PR model; calibrated event F1)',
    '',
    '| unit | rows | events | AUC-PR model | robust-z | kNN | VUS-PR model | calibrated event F1 |',
    '|---|---|---|---|---|---|---|---|',
    ...r.units.map(
      (u) =>
        `| ${u.id} | ${u.rows} | ${u.labelEvents} | ${f3(u.model.aucPr)} | ${f3(u.robustZ?.aucPr)} | ${f3(u.knn?.aucPr)} | ${f3(u.model.vusPr)} | ${f3(u.model.calibrated.f1)} |`,
    ),
    '',
    timingLine(t),
  );
  return lines.join('\n');
}
