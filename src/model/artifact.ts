import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import { ModelLoadError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { parameterShapes, validateSpec, type DenoiserSpec, type Weights } from './denoiser.js';
import { DenoiserRuntime, type RuntimeOptions } from './runtime.js';
import type { NoiseSchedule } from './schedule.js';
import type { NormalisationParams } from '../ingest/normaliser.js';
import { audioFeaturesSchema } from '../config/audio.js';

/**
 * The model directory is the contract between trainer and daemon: `model.onnx` (eps_theta,
 * x [B,C,W], t [B] -> eps [B,C,W]) and `noisefloor.json` described by this schema. Anyone
 * may bring their own ONNX denoiser with a matching manifest.
 */
export const MANIFEST_FILE = 'noisefloor.json';
export const ONNX_FILE = 'model.onnx';
export const FORMAT_VERSION = 1;

const tailSchema = z.object({ u: z.number(), exceedRate: z.number(), sigma: z.number(), xi: z.number(), excesses: z.number() });

export const calibrationManifestSchema = z.object({
  n: z.number().int().min(1),
  probs: z.array(z.number()).min(2),
  quantiles: z.array(z.number()).min(2),
  tail: tailSchema.nullable(),
  targetFalseAlarmRate: z.number(),
  thresholdRaw: z.number(),
  threshold: z.number(),
});

/**
 * How the training files were read, so `score` and `serve` read theirs the same way
 * without the training config. Optional: models written before it read with auto-detection.
 */
export const inputManifestSchema = z.object({
  format: z.enum(['csv', 'jsonl']),
  delimiter: z.string().length(1).optional(),
  header: z.boolean().optional(),
  /** Only when configured; otherwise each file's timestamp column is auto-detected. */
  timestampColumn: z.string().nullable().optional(),
  /** Columns left out of the channels at training, with the reason (for people reading the manifest). */
  excluded: z.array(z.object({ column: z.string(), reason: z.string() })).optional(),
});

/**
 * How the model's windows are made from the input, one member per signal kind (discriminated
 * by `kind`); absent for time series (channels of numeric columns, read as `input` says).
 * src/features/index.ts `featurizerFor` is the one place that turns it into a featurizer.
 */
export const featuresManifestSchema = z.discriminatedUnion('kind', [audioFeaturesSchema]);

export const manifestSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /** Content hash of model.onnx plus the creation time: what alerts and metrics report. */
  modelVersion: z.string().min(1),
  createdAt: z.string(),
  channels: z.array(z.string()).min(1),
  window: z.object({ length: z.number().int().min(2), hop: z.number().int().min(1) }),
  normalisation: z.object({
    method: z.enum(['robust', 'standard']),
    center: z.array(z.number()),
    scale: z.array(z.number().positive()),
  }),
  denoiser: z.object({
    arch: z.enum(['mixer', 'mlp']),
    channels: z.number().int(),
    window: z.number().int(),
    patch: z.number().int(),
    dim: z.number().int(),
    depth: z.number().int(),
    expansion: z.number().int(),
    timeDim: z.number().int(),
  }),
  schedule: z.object({ kind: z.enum(['cosine', 'linear']), T: z.number().int().min(2), alphaBar: z.array(z.number().gt(0).lte(1)) }),
  scoring: z.object({
    mode: z.enum(['reconstruction', 'likelihood']),
    t0: z.number(),
    steps: z.number().int(),
    samples: z.number().int(),
    likelihoodTs: z.array(z.number()),
    batchSize: z.number().int(),
    seed: z.number().int(),
  }),
  calibration: calibrationManifestSchema.nullable(),
  input: inputManifestSchema.optional(),
  /** Feature settings of a signal kind other than time series (see featuresManifestSchema). */
  features: featuresManifestSchema.optional(),
  training: z.record(z.string(), z.unknown()),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type FeaturesManifest = z.infer<typeof featuresManifestSchema>;
export type InputManifest = z.infer<typeof inputManifestSchema>;
export type Calibration = z.infer<typeof calibrationManifestSchema>;
export type TailFit = z.infer<typeof tailSchema>;

export interface LoadedModel {
  dir: string;
  manifest: Manifest;
  runtime: DenoiserRuntime;
  schedule: NoiseSchedule;
  normalisation: NormalisationParams;
  spec: DenoiserSpec;
  channels: number;
  window: number;
  version: string;
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Writes a model directory atomically: files go to a sibling temp directory which then
 * replaces `dir`, so a daemon watching `dir` never sees half a model.
 */
export async function writeModelDir(dir: string, onnx: Uint8Array, manifest: Manifest): Promise<void> {
  const parsed = manifestSchema.parse(manifest);
  const abs = path.resolve(dir);
  const tmp = `${abs}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, ONNX_FILE), onnx);
  await writeFile(path.join(tmp, MANIFEST_FILE), JSON.stringify(parsed, null, 2) + '\n');
  const old = `${abs}.old-${process.pid}`;
  let hadOld = false;
  try {
    await rename(abs, old);
    hadOld = true;
  } catch {
    /* no previous model */
  }
  await mkdir(path.dirname(abs), { recursive: true });
  await rename(tmp, abs);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ModelLoadError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e} (is ${dir} a noisefloor model directory?)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const fv = (raw as { formatVersion?: unknown })?.formatVersion;
  if (fv !== FORMAT_VERSION) throw new ModelLoadError(`${file} has format version ${String(fv)}, this noisefloor reads version ${FORMAT_VERSION}`);
  const res = manifestSchema.safeParse(raw);
  if (!res.success)
    throw new ModelLoadError(`${file} is invalid: ${res.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const m = res.data;
  const problems = validateSpec(m.denoiser as DenoiserSpec);
  const C = m.channels.length;
  if (m.denoiser.channels !== C) problems.push(`denoiser has ${m.denoiser.channels} channels, manifest lists ${C}`);
  if (m.denoiser.window !== m.window.length) problems.push(`denoiser window ${m.denoiser.window} differs from window.length ${m.window.length}`);
  if (m.normalisation.center.length !== C || m.normalisation.scale.length !== C) problems.push('normalisation must have one centre and scale per channel');
  if (m.schedule.alphaBar.length !== m.schedule.T) problems.push(`schedule has ${m.schedule.alphaBar.length} alphaBar values for T=${m.schedule.T}`);
  if (problems.length) throw new ModelLoadError(`${file} is inconsistent: ${problems.join('; ')}`);
  return m;
}

/** Loads and checks a model directory; the ORT session is created once here. */
export async function loadModel(dir: string, runtimeOpts: RuntimeOptions, log: Logger): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  const onnxPath = path.join(dir, ONNX_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(onnxPath);
  } catch (e) {
    throw new ModelLoadError(`cannot read ${onnxPath}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const channels = manifest.channels.length;
  const window = manifest.window.length;
  const runtime = await DenoiserRuntime.create(bytes, { channels, window }, runtimeOpts, log).catch((e: unknown) => {
    if (e instanceof ModelLoadError) throw new ModelLoadError(`${onnxPath}: ${e.message}`);
    throw e;
  });
  return {
    dir,
    manifest,
    runtime,
    schedule: manifest.schedule,
    normalisation: manifest.normalisation,
    spec: manifest.denoiser as DenoiserSpec,
    channels,
    window,
    version: manifest.modelVersion,
  };
}

/**
 * The denoiser weights stored in a model directory's model.onnx (the exporter writes each
 * parameter as an initialiser under its name); for warm starts.
 */
export async function readModelWeights(dir: string, spec: DenoiserSpec): Promise<Weights> {
  const onnxPath = path.join(dir, ONNX_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(onnxPath);
  } catch (e) {
    throw new ModelLoadError(`cannot read ${onnxPath}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let model: InstanceType<typeof onnxProto.onnx.ModelProto>;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelLoadError(`${onnxPath} is not a valid ONNX model: ${(e as Error).message}`);
  }
  const byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name, t]));
  const weights: Weights = new Map();
  for (const [name, shape] of parameterShapes(spec)) {
    const t = byName.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!t) throw new ModelLoadError(`${onnxPath} has no initialiser ${name}: not a model noisefloor exported, so it cannot be warm-started`);
    let data: Float32Array;
    if (t.rawData && t.rawData.length > 0) {
      const raw = t.rawData;
      data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    } else data = Float32Array.from(t.floatData ?? []);
    if (data.length !== size) throw new ModelLoadError(`${onnxPath}: ${name} has ${data.length} values, the spec needs ${size}`);
    weights.set(name, data);
  }
  return weights;
}
