import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { CoreConfig } from '../config/core.js';
import { NormaliserFitter, normaliseWindow, type NormalisationParams } from '../ingest/normaliser.js';
import { openSeries } from '../ingest/readers.js';
import type { Window } from '../ingest/types.js';
import { StreamWindower } from '../ingest/windower.js';
import { FORMAT_VERSION, readManifest, readModelWeights, sha256, writeModelDir, type FeaturesManifest, type InputManifest, type Manifest } from '../model/artifact.js';
import { validateSpec, parameterCount, type DenoiserSpec, type Weights } from '../model/denoiser.js';
import { exportDenoiserOnnx } from '../model/onnx-export.js';
import { DenoiserRuntime, ORT_VERSION } from '../model/runtime.js';
import { makeSchedule, type NoiseSchedule } from '../model/schedule.js';
import { trainDenoiser, type TrainProgress, type TrainResult, type WindowSet } from '../model/trainer.js';
import { calibrate } from '../scoring/calibration.js';
import { DiffusionScorer } from '../scoring/scorer.js';
import { ConfigError, InputError, TrainingError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Rng } from '../util/rng.js';
import { estimateTrainSeconds } from './train-estimate.js';
import { NOISEFLOOR_VERSION } from '../util/version.js';


/** Read from its package.json: the ort trainer never loads TensorFlow.js itself. */
const TFJS_VERSION: string = (createRequire(import.meta.url)('@tensorflow/tfjs/package.json') as { version: string }).version;

export interface CollectedWindows {
  channels: string[];
  /** Raw windows, grouped by source, in time order within each source. */
  bySource: Window[][];
  normalisation: NormalisationParams;
  records: number;
  dataHash: string;
  /** How the files were read (kept in the manifest); absent for windows made elsewhere. */
  input?: InputManifest;
}

/**
 * A uniform sample of at most `capacity` windows from any number of sources (reservoir
 * sampling), returned grouped by source in time order, for the validation split.
 */
export class WindowReservoir {
  private readonly kept: { src: number; seq: number; w: Window }[] = [];
  private seen = 0;
  private readonly rng: Rng;

  constructor(
    readonly capacity: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  /** Offers the `seq`-th window of source `src`. */
  add(src: number, seq: number, w: Window): void {
    const item = { src, seq, w };
    if (this.kept.length < this.capacity) this.kept.push(item);
    else {
      const j = Math.floor(this.rng.next() * (this.seen + 1));
      if (j < this.capacity) this.kept[j] = item;
    }
    this.seen++;
  }

  bySource(sources: number): Window[][] {
    const out: Window[][] = Array.from({ length: sources }, () => []);
    for (const k of [...this.kept].sort((a, b) => a.src - b.src || a.seq - b.seq)) out[k.src].push(k.w);
    return out;
  }
}

/**
 * Reads normal data into windows with bounded memory: windows are kept by reservoir
 * sampling up to `maxWindows`, and the normaliser sees a bounded sample of values.
 */
export async function collectWindows(files: string[], config: CoreConfig, log: Logger): Promise<CollectedWindows> {
  if (files.length === 0) throw new InputError('no input files');
  const { length } = config.window;
  const hop = config.train.stride;
  const reservoir = new WindowReservoir(config.train.maxWindows, config.train.seed);
  let channels: string[] | null = null;
  let fitter: NormaliserFitter | null = null;
  let records = 0;
  let input: InputManifest | undefined;
  const hash = createHash('sha256');
  for (let f = 0; f < files.length; f++) {
    const src = await openSeries(files[f], {
      channels: channels ?? config.data.channels,
      timestampColumn: config.data.timestampColumn,
      format: config.data.format,
      delimiter: config.data.delimiter,
      header: config.data.header,
      exclude: config.data.exclude,
    });
    if (channels === null) {
      channels = src.header.channels;
      fitter = new NormaliserFitter(channels.length, 200_000, config.train.seed);
      input = {
        format: src.csv ? 'csv' : 'jsonl',
        ...(src.csv ? { delimiter: src.csv.delimiter, header: src.csv.header } : {}),
        ...(config.data.timestampColumn !== undefined ? { timestampColumn: config.data.timestampColumn } : {}),
        excluded: src.excluded,
      };
      // Which columns the model learns from decides what it can detect: say it before training.
      log.info('channels', {
        file: files[f],
        channels,
        timestamp: src.csv?.timestampColumn ?? null,
        leftOut: src.excluded.map((e) => `${e.column}: ${e.reason}`),
        ...(src.csv ? { delimiter: src.csv.delimiter, header: src.csv.header } : {}),
      });
    }
    const windower = new StreamWindower(src.header.stream, { length, hop, channels: channels.length });
    let seq = 0;
    for await (const rec of src.records()) {
      records++;
      hash.update(new Uint8Array(rec.values.buffer, rec.values.byteOffset, rec.values.byteLength));
      fitter!.add(rec.values);
      const w = windower.push(rec);
      if (!w) continue;
      reservoir.add(f, seq++, w);
    }
    if (windower.seen < length)
      throw new InputError(`only ${windower.seen} rows, fewer than one window of ${length}`, { file: files[f] });
    log.debug('read training file', { file: files[f], rows: windower.seen, windows: seq });
  }
  return {
    channels: channels!,
    bySource: reservoir.bySource(files.length),
    normalisation: fitter!.fit(config.train.normalisation),
    records,
    dataHash: hash.digest('hex'),
    ...(input ? { input } : {}),
  };
}

/**
 * Splits each source's windows in time: the newest `fraction` for validation. Training
 * windows that overlap the first validation window are dropped, so no time step is in both.
 */
export function splitTrainValidation(bySource: Window[][], fraction: number): { train: Window[]; val: Window[] } {
  const train: Window[] = [];
  const val: Window[] = [];
  for (const ws of bySource) {
    if (ws.length < 2) {
      train.push(...ws);
      continue;
    }
    const nVal = Math.max(1, Math.round(ws.length * fraction));
    const first = ws[ws.length - nVal];
    for (const w of ws.slice(0, ws.length - nVal)) if (w.end < first.start) train.push(w);
    val.push(...ws.slice(ws.length - nVal));
  }
  return { train, val };
}

export function toWindowSet(windows: Window[], norm: NormalisationParams): WindowSet {
  const size = windows[0].channels * windows[0].length;
  const data = new Float32Array(windows.length * size);
  windows.forEach((w, i) => normaliseWindow(norm, w.data, w.length, data, i * size));
  return { data, n: windows.length, size };
}

export function denoiserSpecFrom(config: CoreConfig, channels: number): DenoiserSpec {
  const m = config.model;
  const spec: DenoiserSpec = {
    arch: m.arch,
    channels,
    window: config.window.length,
    patch: m.patch,
    dim: m.dim,
    depth: m.depth,
    expansion: m.expansion,
    timeDim: m.timeDim,
  };
  const errs = validateSpec(spec);
  if (errs.length) throw new ConfigError('invalid model settings', errs.map((e) => `model: ${e}`));
  return spec;
}

export interface TrainJobOptions {
  files: string[];
  outDir: string;
  config: CoreConfig;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** The manifest's feature settings (signal kinds other than time series). */
  features?: FeaturesManifest;
  /** Windows already made (audio features); skips reading files. */
  collected?: CollectedWindows;
  /** Warm start: continue from this model directory (same spec and channels). */
  init?: { dir: string; refitNormaliser: boolean };
}

export interface TrainJobResult {
  manifest: Manifest;
  result: TrainResult;
  trainWindows: number;
  valWindows: number;
}

/** Builds the manifest's calibration by scoring held-out windows through ORT, as `score` would. */
async function calibrateOnValidation(
  onnx: Uint8Array,
  spec: DenoiserSpec,
  schedule: NoiseSchedule,
  normalisation: NormalisationParams,
  val: Window[],
  config: CoreConfig,
  log: Logger,
) {
  const runtime = await DenoiserRuntime.create(onnx, { channels: spec.channels, window: spec.window }, { provider: 'cpu', intraOpThreads: config.runtime.intraOpThreads }, log);
  try {
    const scorer = new DiffusionScorer({ runtime, schedule, normalisation, channels: spec.channels, window: spec.window, spec }, config.scoring, null);
    const raws = await scorer.scoreRaw(val);
    return calibrate(
      raws.map((r) => r.raw),
      config.calibration.targetFalseAlarmRate,
      config.calibration.tailQuantile,
      config.calibration.tailFit,
    );
  } finally {
    await runtime.release();
  }
}

export async function buildModelArtifact(
  spec: DenoiserSpec,
  schedule: NoiseSchedule,
  weights: Weights,
  collected: CollectedWindows,
  val: Window[],
  config: CoreConfig,
  training: Record<string, unknown>,
  log: Logger,
  features?: FeaturesManifest,
): Promise<{ onnx: Uint8Array; manifest: Manifest }> {
  const createdAt = new Date().toISOString();
  const onnx = exportDenoiserOnnx(spec, weights, { version: NOISEFLOOR_VERSION, createdAt });
  const calibration = await calibrateOnValidation(onnx, spec, schedule, collected.normalisation, val, config, log);
  const manifest: Manifest = {
    formatVersion: FORMAT_VERSION,
    modelVersion: `${sha256(onnx).slice(0, 12)}-${createdAt.replace(/[-:]/g, '').slice(0, 15)}`,
    createdAt,
    channels: collected.channels,
    window: { length: config.window.length, hop: config.window.hop },
    normalisation: collected.normalisation,
    denoiser: spec,
    schedule,
    scoring: config.scoring,
    calibration,
    ...(collected.input ? { input: collected.input } : {}),
    ...(features ? { features } : {}),
    training,
  };
  return { onnx, manifest };
}

/**
 * What makes a model directory unusable as the warm start of this training run: another
 * architecture or size, other channels, another noise schedule. Empty when it fits.
 */
export function warmStartDifferences(manifest: Manifest, spec: DenoiserSpec, channels: string[], schedule: NoiseSchedule): string[] {
  const diffs: string[] = [];
  const have = manifest.denoiser as DenoiserSpec;
  for (const key of Object.keys(spec) as (keyof DenoiserSpec)[]) {
    if (key === 'channels') continue;
    if (have[key] !== spec[key]) diffs.push(`${key === 'window' ? 'window.length' : `model.${key}`}: the model has ${have[key]}, this configuration ${spec[key]}`);
  }
  if (manifest.channels.join(',') !== channels.join(','))
    diffs.push(`channels: the model has [${manifest.channels.join(', ')}], the data [${channels.join(', ')}]`);
  if (manifest.schedule.kind !== schedule.kind) diffs.push(`model.schedule: the model has ${manifest.schedule.kind}, this configuration ${schedule.kind}`);
  if (manifest.schedule.T !== schedule.T) diffs.push(`model.T: the model has ${manifest.schedule.T}, this configuration ${schedule.T}`);
  return diffs;
}

async function loadWarmStart(
  init: { dir: string; refitNormaliser: boolean },
  spec: DenoiserSpec,
  collected: CollectedWindows,
  schedule: NoiseSchedule,
  log: Logger,
): Promise<{ weights: Weights; collected: CollectedWindows; version: string }> {
  const manifest = await readManifest(init.dir);
  const diffs = warmStartDifferences(manifest, spec, collected.channels, schedule);
  if (diffs.length) throw new ConfigError(`--init ${init.dir} is a model of another spec`, diffs);
  const weights = await readModelWeights(init.dir, spec);
  log.info('warm start', { from: init.dir, version: manifest.modelVersion, normaliser: init.refitNormaliser ? 'refitted' : 'kept' });
  return {
    weights,
    collected: init.refitNormaliser ? collected : { ...collected, normalisation: manifest.normalisation },
    version: manifest.modelVersion,
  };
}

export async function runTrainJob(opts: TrainJobOptions): Promise<TrainJobResult> {
  const { config, log } = opts;
  let collected = opts.collected ?? (await collectWindows(opts.files, config, log));
  const spec = denoiserSpecFrom(config, collected.channels.length);
  const schedule = makeSchedule(config.model.schedule, config.model.T);
  const warm = opts.init ? await loadWarmStart(opts.init, spec, collected, schedule, log) : undefined;
  if (warm) collected = warm.collected;
  const { train, val } = splitTrainValidation(collected.bySource, config.train.validationSplit);
  if (train.length < 8 || val.length < 4)
    throw new TrainingError(
      `too little normal data: ${train.length} training and ${val.length} validation windows (need 8 and 4); supply more rows or a shorter window/hop`,
    );
  log.info('training', {
    files: opts.files.length,
    records: collected.records,
    trainWindows: train.length,
    valWindows: val.length,
    arch: spec.arch,
    parameters: parameterCount(spec),
    backend: config.train.backend,
    expect: estimateTrainSeconds(spec, config.train, train.length, val.length).text,
  });
  const result = await trainDenoiser(toWindowSet(train, collected.normalisation), toWindowSet(val, collected.normalisation), {
    spec,
    schedule,
    config: config.train,
    log,
    checkpointDir: path.join(opts.outDir + '.checkpoint'),
    signal: opts.signal,
    onProgress: opts.onProgress,
    initialWeights: warm?.weights,
  });
  const training = {
    files: opts.files.map((f) => path.basename(f)),
    dataHash: collected.dataHash,
    records: collected.records,
    trainWindows: train.length,
    valWindows: val.length,
    epochs: result.epochsRun,
    bestEpoch: result.bestEpoch,
    steps: result.steps,
    trainLoss: result.trainLoss,
    valLoss: result.valLoss,
    stoppedEarly: result.stoppedEarly,
    interrupted: result.interrupted,
    seconds: result.seconds,
    seed: config.train.seed,
    config: config.train,
    backend: config.train.backend,
    engine: result.engine,
    ...(warm ? { initFrom: { dir: path.resolve(opts.init!.dir), version: warm.version, normaliser: opts.init!.refitNormaliser ? 'refitted' : 'kept' } } : {}),
    libraries: { noisefloor: NOISEFLOOR_VERSION, tfjs: TFJS_VERSION, onnxruntime: ORT_VERSION, node: process.version },
    host: { platform: os.platform(), arch: os.arch(), cpus: os.cpus().length },
  };
  const { onnx, manifest } = await buildModelArtifact(spec, schedule, result.weights, collected, val, config, training, log, opts.features);
  await writeModelDir(opts.outDir, onnx, manifest);
  log.info('model written', {
    dir: opts.outDir,
    version: manifest.modelVersion,
    thresholdRaw: manifest.calibration?.thresholdRaw,
    seconds: result.seconds,
    interrupted: result.interrupted,
  });
  return { manifest, result, trainWindows: train.length, valWindows: val.length };
}
