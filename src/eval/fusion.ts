/**
 * Report-time scores of `evaluate` beside the network's: the per-unit window memory (the
 * empirical denoiser) and the pooled signed-residual statistic, each calibrated on normal
 * data without labels, and their fusion with the network's calibrated score by the rule of
 * src/scoring/fusion.ts. The memory needs no model, so it runs here on the unit's windows
 * (like the baselines) and a change of its settings re-scores in seconds from the cache.
 */
import type { Window } from '../ingest/types.js';
import { StreamWindower } from '../ingest/windower.js';
import { calibratedSurprise, fuseSurprises, ResidualStatistic } from '../scoring/fusion.js';
import { calibrateMemory, StreamMemory, WindowMemory } from '../scoring/memory.js';
import type { EvaluateConfig, FusionPart } from './config.js';
import { collectFromRecords, unitRecords, type EvalUnit, type UnitResult } from './engine.js';

export interface MemoryWindowScores {
  windowEnd: number[];
  /** The memory's diffusion score per window. */
  score: number[];
  /** Its calibrated surprise. */
  surprise: number[];
  /** Memory size at the end of the stream, windows inserted while streaming, bytes held. */
  size: number;
  inserted: number;
  bytes: number;
  /** Floating-point operations per scored window at the final size. */
  flopsPerWindow: number;
  seconds: number;
}

/**
 * Streams a unit's test windows (same windower settings as the detector) through a memory
 * built from its normal data. With `replacement: fifo`, a window becomes a candidate for
 * insertion once it no longer overlaps the newest window; every `insertEvery`-th candidate
 * is stored unless `guard(k)` (the fused surprise of window k) reached
 * `insertBelowSurprise`, so flagged windows stay out.
 */
export async function memoryWindowScores(
  unit: EvalUnit,
  config: EvaluateConfig,
  guard: (k: number, memorySurprise: number) => number = (_k, s) => s,
): Promise<MemoryWindowScores> {
  const started = Date.now();
  const mc = config.evaluate.memory;
  const { channels, stream, test, train } = await unitRecords(unit, config);
  const normal = collectFromRecords(train, channels, stream, { ...config, train: { ...config.train, stride: 1, maxWindows: Number.MAX_SAFE_INTEGER } }).bySource[0];
  if (normal.length === 0) throw new Error(`${unit.id}: no normal windows for the memory`);
  const memory = WindowMemory.fit(
    normal.map((w) => w.data),
    normal.map((w) => w.end),
    { capacity: mc.capacity, sigmas: mc.sigmas, replacement: mc.replacement },
  );
  const cal = calibrateMemory(memory, normal, config.window.length, config.calibration.targetFalseAlarmRate, config.calibration.tailQuantile, config.calibration.tailFit);
  const W = config.window.length;
  const stream_ = new StreamMemory(memory, (score) => calibratedSurprise(cal, score), {
    windowLength: W,
    insertEvery: mc.insertEvery,
    insertBelowSurprise: mc.insertBelowSurprise,
  });
  const out: MemoryWindowScores = { windowEnd: [], score: [], surprise: [], size: 0, inserted: 0, bytes: 0, flopsPerWindow: 0, seconds: 0 };
  const windower = new StreamWindower(stream, { length: W, hop: config.window.hop, channels: channels.length });
  const add = (w: Window | null) => {
    if (!w) return;
    const k = out.windowEnd.length;
    const { score, surprise } = stream_.score(w.data);
    out.windowEnd.push(w.end);
    out.score.push(score);
    out.surprise.push(surprise);
    stream_.observe(w.data, w.end, guard(k, surprise));
  };
  for (const rec of test) add(windower.push(rec));
  add(windower.flush());
  out.size = memory.size;
  out.inserted = memory.inserted;
  out.bytes = memory.bytes;
  out.flopsPerWindow = memory.flopsPerScore;
  out.seconds = (Date.now() - started) / 1000;
  return out;
}

/** Per-window calibrated surprises of each part a unit has. */
export interface UnitSurprises {
  network: number[];
  residual?: number[];
  memory?: number[];
}

/**
 * The residual statistic's surprise per window: each window is judged by the reference
 * (held-out validation windows) of the model that scored it.
 */
export function residualSurprises(r: UnitResult, config: EvaluateConfig): number[] | undefined {
  const C = r.channels.length;
  if (!r.residuals || r.residuals.length !== r.windowEnd.length * C || r.models.some((m) => !m.reference)) return undefined;
  const stats = r.models.map((m) => ResidualStatistic.fit(m.reference.residuals, C, config.calibration.targetFalseAlarmRate, config.calibration.tailQuantile, config.calibration.tailFit));
  const out: number[] = [];
  let m = 0;
  for (let k = 0; k < r.windowEnd.length; k++) {
    while (m + 1 < r.models.length && r.models[m + 1].fromRow <= r.windowEnd[k]) m++;
    out.push(stats[m].surprise(r.residuals, k * C));
  }
  return out;
}

/** The surprises of the network, residual and (given) memory parts of a unit. */
export function unitSurprises(r: UnitResult, config: EvaluateConfig, memory?: MemoryWindowScores): UnitSurprises {
  if (memory && (memory.windowEnd.length !== r.windowEnd.length || memory.windowEnd.some((e, i) => e !== r.windowEnd[i])))
    throw new Error(`${r.id}: the memory scored other windows than the detector`);
  return { network: r.surprise, residual: residualSurprises(r, config), memory: memory?.surprise };
}

/**
 * A unit's result with the fused score in place of the network's: raw = surprise = the
 * fused surprise (uncapped: it keeps the order of the most anomalous windows),
 * score = 1 - 10^-surprise (rounds to 1 past ~16), flagged = at or above
 * -log10(targetFalseAlarmRate). ['network'] alone returns the result unchanged.
 */
export function fusedResult(r: UnitResult, parts: readonly FusionPart[], s: UnitSurprises, config: EvaluateConfig): UnitResult {
  if (parts.length === 1 && parts[0] === 'network') return r;
  const series = parts.map((p) => {
    const v = s[p];
    if (!v) throw new Error(`${r.id}: fusion part "${p}" has no scores (memory disabled, or a cache entry without residuals)`);
    return v;
  });
  const limit = -Math.log10(config.calibration.targetFalseAlarmRate);
  const raw: number[] = [];
  const score: number[] = [];
  const flagged: number[] = [];
  const surprise: number[] = [];
  const buf = new Float64Array(parts.length);
  for (let k = 0; k < r.windowEnd.length; k++) {
    for (let j = 0; j < series.length; j++) buf[j] = series[j][k];
    const f = fuseSurprises(buf);
    raw.push(f);
    surprise.push(f);
    score.push(1 - 10 ** -f);
    flagged.push(f >= limit ? 1 : 0);
  }
  return { ...r, raw, score, flagged, surprise };
}

/** The guard of the memory's insertion policy: the fused surprise of window k from the parts known before the memory pass. */
export function insertionGuard(parts: readonly FusionPart[], s: UnitSurprises): (k: number, memorySurprise: number) => number {
  const others = parts.filter((p) => p !== 'memory').map((p) => s[p]).filter((v): v is number[] => v !== undefined);
  const n = others.length + 1;
  const buf = new Float64Array(n);
  return (k, mem) => {
    for (let j = 0; j < others.length; j++) buf[j] = others[j][k];
    buf[n - 1] = mem;
    return fuseSurprises(buf);
  };
}
