/**
 * One evaluation unit (a NAB file, a SMAP/MSL channel, a labelled CSV): train a model on
 * the unit's normal data, then stream the test rows through the same code the daemon
 * runs per stream: `StreamWindower` -> `Detector` (ORT, partial noising + DDIM, the
 * model's calibration) in batches. What comes out is one record per scored window, which
 * `rows.ts` maps to rows and `postprocess.ts` turns into the reported score.
 *
 * Online adaptation (optional, `evaluate.adaptation.everyRows`): every N rows a fresh
 * model is trained on the most recent rows whose windows were not flagged, calibrated on
 * their newest part, and swapped in; the windower (the stream's state) is kept, as the
 * daemon keeps a stream when a model is hot-reloaded.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { NormaliserFitter } from '../ingest/normaliser.js';
import { openSeries, type SeriesSource } from '../ingest/readers.js';
import type { SeriesRecord, Window } from '../ingest/types.js';
import { StreamWindower } from '../ingest/windower.js';
import { WindowReservoir, runTrainJob, splitTrainValidation, type CollectedWindows } from '../jobs/train.js';
import { scoreSource } from '../jobs/score.js';
import { Detector } from '../scoring/detector.js';
import type { WindowScore } from '../scoring/types.js';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { fitKnn, knnScore, robustZScore, type KnnModel } from './baselines.js';
import type { EvaluateConfig } from './config.js';

export type CorpusName = 'nab' | 'smap-msl' | 'labelled-csv';

export interface EvalUnit {
  corpus: CorpusName;
  /** Unit id within the corpus: `realKnownCause/nyc_taxi.csv`, `SMAP/A-1`, `machine1.csv`. */
  id: string;
  /** The file streamed through the detector. */
  testFile: string;
  /** Normal data in a separate file (SMAP/MSL train files). */
  trainFile?: string;
  /** Otherwise: the first `trainRows` rows of the test file are the training data (NAB probation). */
  trainRows?: number;
  /** Columns never given to the model (the label column of labelled-csv). */
  excludeColumns?: string[];
}

export interface UnitModelInfo {
  version: string;
  /** First row the model scored (0 for the initial model). */
  fromRow: number;
  trainWindows: number;
  valWindows: number;
  epochs: number;
  thresholdRaw: number;
  trainSeconds: number;
  /**
   * The model's scores of its own held-out validation windows (normal data it did not
   * learn from; at most REFERENCE_WINDOWS, evenly spaced): raw score and pooled signed
   * residual per channel (flattened [window, channel]). They calibrate statistics the
   * model's manifest has no calibration for (the residual), without labels.
   */
  reference: { raw: number[]; residuals: number[] };
}

export interface UnitResult {
  corpus: CorpusName;
  id: string;
  /** Hash of configuration, code version and data: the cache key. */
  key: string;
  rows: number;
  channels: string[];
  /** Per scored window, in stream order: last row, raw score, calibrated score, flag. */
  windowEnd: number[];
  raw: number[];
  score: number[];
  flagged: number[];
  /**
   * The calibrated score's surprise, -log10 (1 - score) computed without a cap and without
   * the rounding of 1 - score (src/scoring/calibration.ts, calibratedSurprise): the ranking
   * of the most anomalous windows for fusion.
   */
  surprise: number[];
  /** Pooled signed residual per window and channel (x0 - x0_hat averaged over the window), flattened [window, channel]. */
  residuals: number[];
  /** Baseline scores on the very same windows (when enabled). */
  baselines?: { robustZ: number[]; knn: number[] };
  models: UnitModelInfo[];
  seconds: { total: number; train: number; score: number; baselines: number };
}

/** Bumped when a change in this code changes results, so old cache entries are ignored. */
export const EVAL_CACHE_VERSION = 3;

/** At most this many validation windows are scored for a model's reference statistics. */
export const REFERENCE_WINDOWS = 2000;

async function readAll(src: SeriesSource): Promise<SeriesRecord[]> {
  const out: SeriesRecord[] = [];
  for await (const r of src.records()) out.push(r);
  return out;
}

/** Channels the model reads: configured ones, else every numeric column but the excluded. */
async function channelsOf(file: string, config: EvaluateConfig, exclude: string[]): Promise<string[]> {
  if (config.data.channels) return config.data.channels;
  const src = await openSeries(file, { ...readOptions(config), exclude: [...(config.data.exclude ?? []), ...exclude] });
  const ch = src.header.channels;
  if (ch.length === 0) throw new InputError('no numeric columns left for the model', { file });
  return ch;
}

async function openFile(file: string, channels: string[], config: EvaluateConfig): Promise<SeriesSource> {
  return openSeries(file, { ...readOptions(config), channels });
}

function readOptions(config: EvaluateConfig) {
  const d = config.data;
  return { timestampColumn: d.timestampColumn, format: d.format, delimiter: d.delimiter, header: d.header };
}

function memorySource(src: SeriesSource, records: SeriesRecord[]): SeriesSource {
  return {
    ...src,
    records: async function* () {
      yield* records;
    },
  };
}

/** sha256 of a file set's record values: part of the cache key. */
export function hashRecords(h: ReturnType<typeof createHash>, records: SeriesRecord[]): void {
  for (const r of records) h.update(new Uint8Array(r.values.buffer, r.values.byteOffset, r.values.byteLength));
}

/**
 * Training windows from in-memory records, as `collectWindows` makes them from files:
 * stride `train.stride`, a reservoir sample of at most `train.maxWindows`, the normaliser
 * fitted on the same rows. `keep(end)` drops windows (flagged ones when adapting).
 */
export function collectFromRecords(
  records: SeriesRecord[],
  channels: string[],
  stream: string,
  config: EvaluateConfig,
  keep: (w: Window) => boolean = () => true,
): CollectedWindows {
  const { length } = config.window;
  const windower = new StreamWindower(stream, { length, hop: config.train.stride, channels: channels.length });
  const fitter = new NormaliserFitter(channels.length, 200_000, config.train.seed);
  const reservoir = new WindowReservoir(config.train.maxWindows, config.train.seed);
  const hash = createHash('sha256');
  let seq = 0;
  for (const rec of records) {
    fitter.add(rec.values);
    hash.update(new Uint8Array(rec.values.buffer, rec.values.byteOffset, rec.values.byteLength));
    const w = windower.push(rec);
    if (!w || !keep(w)) continue;
    reservoir.add(0, seq++, w);
  }
  return {
    channels,
    bySource: reservoir.bySource(1),
    normalisation: fitter.fit(config.train.normalisation),
    records: records.length,
    dataHash: hash.digest('hex'),
  };
}

export interface RunUnitOptions {
  config: EvaluateConfig;
  /** Folder for this unit's model directories. */
  modelDir: string;
  log: Logger;
  key: string;
  /** Called with the number of test rows streamed so far. */
  onRows?: (rows: number, total: number) => void;
}

/** The cache key of a unit: configuration (runtime excluded), code version and data. */
export async function unitKey(unit: EvalUnit, config: EvaluateConfig, codeVersion: string): Promise<string> {
  const h = createHash('sha256');
  const { runtime: _runtime, evaluate, ...core } = config;
  void _runtime;
  // Post-processing is applied after the cache, so changing it reuses the scored windows.
  // So are the window memory, its resolution and the fusion of calibrated surprises (report time).
  const { postprocess: _pp, memory: _mem, fusion: _fu, resolution: _res, ...scoringRelevant } = evaluate;
  void _pp;
  void _mem;
  void _fu;
  void _res;
  // NAB baselines are computed at report time (nabBaselineScores), never by runUnit.
  if (unit.corpus === 'nab') scoringRelevant.baselines = { ...scoringRelevant.baselines, enabled: false };
  h.update(JSON.stringify({ v: EVAL_CACHE_VERSION, codeVersion, corpus: unit.corpus, id: unit.id, trainRows: unit.trainRows, core, eval: scoringRelevant }));
  const channels = await channelsOf(unit.testFile, config, unit.excludeColumns ?? []);
  for (const f of [unit.testFile, unit.trainFile]) {
    if (!f) continue;
    hashRecords(h, await readAll(await openFile(f, channels, config)));
  }
  return h.digest('hex');
}

async function trainModel(
  collected: CollectedWindows,
  dir: string,
  config: EvaluateConfig,
  log: Logger,
  fromRow: number,
): Promise<{ detector: Detector; info: UnitModelInfo }> {
  const started = Date.now();
  const job = await runTrainJob({ files: [path.basename(dir)], outDir: dir, config, log, collected });
  await rm(dir + '.checkpoint', { recursive: true, force: true });
  // Single-threaded ORT inside a unit: parallelism comes from running units side by side.
  const detector = await Detector.open(dir, { provider: config.runtime.provider, intraOpThreads: config.runtime.intraOpThreads }, log);
  const { val } = splitTrainValidation(collected.bySource, config.train.validationSplit);
  const picked = val.length <= REFERENCE_WINDOWS ? val : Array.from({ length: REFERENCE_WINDOWS }, (_, j) => val[Math.floor((j * val.length) / REFERENCE_WINDOWS)]);
  const refScores = await detector.scorer.scoreRaw(picked);
  const reference = { raw: refScores.map((r) => r.raw), residuals: refScores.flatMap((r) => Array.from(r.channelResiduals)) };
  return {
    detector,
    info: {
      version: job.manifest.modelVersion,
      fromRow,
      trainWindows: job.trainWindows,
      valWindows: job.valWindows,
      epochs: job.result.epochsRun,
      thresholdRaw: job.manifest.calibration?.thresholdRaw ?? Number.NaN,
      trainSeconds: (Date.now() - started) / 1000,
      reference,
    },
  };
}

/** Trains, streams and scores one unit. */
export async function runUnit(unit: EvalUnit, opts: RunUnitOptions): Promise<UnitResult> {
  const { config, log } = opts;
  const t0 = Date.now();
  const exclude = unit.excludeColumns ?? [];
  const channels = await channelsOf(unit.testFile, config, exclude);
  const testSrc = await openFile(unit.testFile, channels, config);
  const testRecords = await readAll(testSrc);
  const W = config.window.length;
  if (testRecords.length < W) throw new InputError(`only ${testRecords.length} rows, fewer than one window of ${W}`, { file: unit.testFile });
  let trainRecords: SeriesRecord[];
  if (unit.trainFile) trainRecords = await readAll(await openFile(unit.trainFile, channels, config));
  else trainRecords = testRecords.slice(0, unit.trainRows ?? 0);
  const stream = testSrc.header.stream;

  let trainSeconds = 0;
  let baselineSeconds = 0;
  const first = await trainModel(collectFromRecords(trainRecords, channels, stream, config), path.join(opts.modelDir, 'm0'), config, log, 0);
  trainSeconds += first.info.trainSeconds;
  const models = [first.info];
  let detector = first.detector;

  // Baselines on the same windows: kNN fitted on the training windows of the first model.
  const bl = config.evaluate.baselines;
  let knn: KnnModel | null = null;
  const withBaselines = bl.enabled && unit.corpus !== 'nab';
  const baselines = withBaselines ? { robustZ: [] as number[], knn: [] as number[] } : undefined;
  if (withBaselines) {
    const tb = Date.now();
    const tw = collectFromRecords(trainRecords, channels, stream, config).bySource[0].map((w) => w.data);
    knn = fitKnn(tw, { k: bl.knnK, maxTrain: bl.knnMaxTrain });
    baselineSeconds += (Date.now() - tb) / 1000;
  }

  const windowEnd: number[] = [];
  const raw: number[] = [];
  const score: number[] = [];
  const flagged: number[] = [];
  const surprise: number[] = [];
  const residuals: number[] = [];
  const onBatch = (ws: Window[], rs: WindowScore[]) => {
    for (let i = 0; i < ws.length; i++) {
      windowEnd.push(ws[i].end);
      raw.push(rs[i].raw);
      score.push(rs[i].score);
      flagged.push(rs[i].anomaly ? 1 : 0);
      surprise.push(rs[i].surprise);
      for (const r of rs[i].channelResiduals) residuals.push(r);
    }
    if (baselines && knn) {
      const tb = Date.now();
      for (const w of ws) {
        baselines.robustZ.push(robustZScore(w.data, w.channels, { history: bl.robustZHistory }));
        baselines.knn.push(knnScore(knn, w.data));
      }
      baselineSeconds += (Date.now() - tb) / 1000;
    }
    opts.onRows?.(ws[ws.length - 1].end + 1, testRecords.length);
  };

  const every = config.evaluate.adaptation.everyRows;
  try {
    if (every <= 0) {
      await scoreSource(memorySource(testSrc, testRecords), detector, onBatch, config.scoring.batchSize);
    } else {
      await streamAdapting(testRecords, stream, channels, {
        config,
        log,
        modelDir: opts.modelDir,
        firstRetrain: Math.max(unit.trainFile ? 0 : trainRecords.length, W) + every,
        getDetector: () => detector,
        swap: async (next, info) => {
          await detector.close();
          detector = next;
          models.push(info);
          trainSeconds += info.trainSeconds;
        },
        windowEnd,
        flagged,
        onBatch,
      });
    }
  } finally {
    await detector.close();
  }
  const total = (Date.now() - t0) / 1000;
  return {
    corpus: unit.corpus,
    id: unit.id,
    key: opts.key,
    rows: testRecords.length,
    channels,
    windowEnd,
    raw,
    score,
    flagged,
    surprise,
    residuals,
    baselines,
    models,
    seconds: { total, train: trainSeconds, score: Math.max(0, total - trainSeconds - baselineSeconds), baselines: baselineSeconds },
  };
}

/** Fewer normal windows than this in the recent span: re-train on all of them. */
const MIN_RETRAIN_WINDOWS = 64;

interface AdaptOptions {
  config: EvaluateConfig;
  log: Logger;
  modelDir: string;
  firstRetrain: number;
  getDetector: () => Detector;
  swap: (next: Detector, info: UnitModelInfo) => Promise<void>;
  windowEnd: number[];
  flagged: number[];
  onBatch: (ws: Window[], rs: WindowScore[]) => void;
}

/**
 * scoreSource's loop (windower -> batches -> detector) with a model swap every
 * `everyRows` rows. A batch never spans a swap, so every window is scored by the model
 * that was current when the window's last row arrived.
 */
async function streamAdapting(records: SeriesRecord[], stream: string, channels: string[], o: AdaptOptions): Promise<void> {
  const { config } = o;
  const { length, hop } = config.window;
  const ad = config.evaluate.adaptation;
  const windower = new StreamWindower(stream, { length, hop, channels: channels.length });
  let pending: Window[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    o.onBatch(batch, await o.getDetector().score(batch));
  };
  let nextRetrain = o.firstRetrain;
  let k = 1;
  for (const rec of records) {
    if (rec.index === nextRetrain) {
      await flush();
      const from = Math.max(0, rec.index - ad.recentRows);
      // Rows covered by a flagged window are not normal enough to learn from.
      const bad = new Uint8Array(rec.index);
      if (ad.excludeFlagged)
        for (let i = 0; i < o.windowEnd.length; i++)
          if (o.flagged[i]) bad.fill(1, Math.max(0, o.windowEnd[i] - length + 1), o.windowEnd[i] + 1);
      const recent = records.slice(from, rec.index);
      let collected = collectFromRecords(recent, channels, stream, config, (w) => {
        for (let i = w.start; i <= w.end; i++) if (bad[i]) return false;
        return true;
      });
      // Flagged for the whole recent span: a lasting change. Like HTM, accept it as the
      // new normal rather than flag it forever.
      if (collected.bySource[0].length < MIN_RETRAIN_WINDOWS) collected = collectFromRecords(recent, channels, stream, config);
      const windows = collected.bySource[0].length;
      if (windows >= MIN_RETRAIN_WINDOWS) {
        try {
          const next = await trainModel(collected, path.join(o.modelDir, `m${k}`), config, o.log, rec.index);
          await o.swap(next.detector, next.info);
        } catch (e) {
          o.log.warn('re-training failed; keeping the current model', { row: rec.index, error: (e as Error).message });
        }
      } else o.log.debug('too few normal windows to re-train', { row: rec.index, windows });
      k++;
      nextRetrain += ad.everyRows;
    }
    const w = windower.push(rec);
    if (w) {
      pending.push(w);
      if (pending.length >= config.scoring.batchSize) await flush();
    }
  }
  const last = windower.flush();
  if (last) pending.push(last);
  await flush();
}

/** A unit's records: the streamed test rows and the normal (training) rows, as the model reads them. */
export async function unitRecords(unit: EvalUnit, config: EvaluateConfig): Promise<{ channels: string[]; stream: string; test: SeriesRecord[]; train: SeriesRecord[] }> {
  const channels = await channelsOf(unit.testFile, config, unit.excludeColumns ?? []);
  const src = await openFile(unit.testFile, channels, config);
  const test = await readAll(src);
  const train = unit.trainFile ? await readAll(await openFile(unit.trainFile, channels, config)) : test.slice(0, unit.trainRows ?? 0);
  return { channels, stream: src.header.stream, test, train };
}

/**
 * The robust-z and kNN baselines alone on a unit's windows (no model): the same windower
 * settings as the detector, kNN fitted on the unit's training windows. NAB's report uses
 * it to put the baselines through the same post-processing as the model.
 */
export async function baselineWindowScores(
  unit: EvalUnit,
  config: EvaluateConfig,
): Promise<{ rows: number; windowEnd: number[]; robustZ: number[]; knn: number[] }> {
  const channels = await channelsOf(unit.testFile, config, unit.excludeColumns ?? []);
  const src = await openFile(unit.testFile, channels, config);
  const records = await readAll(src);
  const train = unit.trainFile ? await readAll(await openFile(unit.trainFile, channels, config)) : records.slice(0, unit.trainRows ?? 0);
  const bl = config.evaluate.baselines;
  const knn = fitKnn(
    collectFromRecords(train, channels, src.header.stream, config).bySource[0].map((w) => w.data),
    { k: bl.knnK, maxTrain: bl.knnMaxTrain },
  );
  const windower = new StreamWindower(src.header.stream, { length: config.window.length, hop: config.window.hop, channels: channels.length });
  const out = { rows: records.length, windowEnd: [] as number[], robustZ: [] as number[], knn: [] as number[] };
  const add = (w: Window | null) => {
    if (!w) return;
    out.windowEnd.push(w.end);
    out.robustZ.push(robustZScore(w.data, w.channels, { history: bl.robustZHistory }));
    out.knn.push(knnScore(knn, w.data));
  };
  for (const rec of records) add(windower.push(rec));
  add(windower.flush());
  return out;
}
