/**
 * The time resolution of the window memory in `evaluate` (`evaluate.resolution`): the
 * memory's window ending at row i is `windowLength` steps, each the mean of `rowsPerStep`
 * consecutive rows: step p covers rows i - (windowLength - 1 - p) k - k + 1 ..
 * i - (windowLength - 1 - p) k. So the memory sees a span of windowLength x k rows at a
 * coarser resolution, and still scores a window at every row (downsampling at every
 * phase: no row waits for a block to end, and the normal data gives one window per row
 * for the memory and its calibration). The network part keeps the configured window.
 *
 * Why: NAB's probationary period holds at most 750 rows. With windows of 32 rows, a
 * window spans 32 rows whatever the file's sampling rate, and the probationary period
 * holds about 23 windows that do not overlap. ARTime (NAB 74.9) downsamples so that the
 * probationary period holds about 13 windows of 8 steps; `rowsPerStep: auto` is that
 * rule, floor(normal rows / (probationWindows x windowLength)), at least 1. No labels:
 * the factor depends only on the length of the unit's normal data.
 *
 * Everything is causal: the window ending at row i reads rows up to i only.
 */
import { calibratedSurprise } from '../scoring/fusion.js';
import { calibrateMemory, StreamMemory, WindowMemory } from '../scoring/memory.js';
import type { SeriesRecord } from '../ingest/types.js';
import { InputError } from '../util/errors.js';
import type { EvaluateConfig, ResolutionSpec } from './config.js';
import { unitRecords, type EvalUnit } from './engine.js';
import type { MemoryWindowScores } from './fusion.js';

export interface Resolution {
  /** Rows averaged into one step. */
  rowsPerStep: number;
  /** Window length of the memory, in steps. */
  windowLength: number;
}

/** A configured resolution (by default the first one) of a unit whose normal data has `normalRows` rows. */
export function unitResolution(config: EvaluateConfig, normalRows: number, r: ResolutionSpec = config.evaluate.resolution): Resolution {
  const windowLength = r.windowLength ?? config.window.length;
  const rowsPerStep = r.rowsPerStep === 'auto' ? autoRowsPerStep(normalRows, windowLength, r.probationWindows) : r.rowsPerStep;
  return { rowsPerStep, windowLength };
}

/** ARTime's rule: the normal data holds about `probationWindows` windows of `windowLength` steps. */
export function autoRowsPerStep(normalRows: number, windowLength: number, probationWindows: number): number {
  return Math.max(1, Math.floor(normalRows / (probationWindows * windowLength)));
}

/** True when the resolution changes anything against the configured window on every row. */
export function isCustomResolution(res: Resolution, config: EvaluateConfig): boolean {
  return res.rowsPerStep !== 1 || res.windowLength !== config.window.length;
}

/**
 * Per-channel prefix sums of values and of non-missing counts: the mean of rows [a, b] is
 * (sum[b + 1] - sum[a]) / (count[b + 1] - count[a]), NaN values left out.
 */
export class RowMeans {
  private readonly sum: Float64Array[];
  private readonly count: Uint32Array[];

  constructor(records: readonly SeriesRecord[], readonly channels: number) {
    this.sum = Array.from({ length: channels }, () => new Float64Array(records.length + 1));
    this.count = Array.from({ length: channels }, () => new Uint32Array(records.length + 1));
    for (let c = 0; c < channels; c++) {
      const s = this.sum[c];
      const n = this.count[c];
      for (let i = 0; i < records.length; i++) {
        const v = records[i].values[c];
        const ok = !Number.isNaN(v);
        s[i + 1] = s[i] + (ok ? v : 0);
        n[i + 1] = n[i] + (ok ? 1 : 0);
      }
    }
  }

  /** Mean of channel c over rows [from, to] (inclusive); NaN when all are missing. */
  mean(c: number, from: number, to: number): number {
    const n = this.count[c][to + 1] - this.count[c][from];
    return n ? (this.sum[c][to + 1] - this.sum[c][from]) / n : Number.NaN;
  }

  /**
   * The coarse window ending at row `end`: windowLength steps of rowsPerStep rows,
   * channel-major (data[c * windowLength + p]) like the windower's windows. null before
   * the first complete span; `missing` when a step has no value.
   */
  window(end: number, rowsPerStep: number, windowLength: number): { data: Float32Array; missing: boolean } | null {
    const first = end - windowLength * rowsPerStep + 1;
    if (first < 0) return null;
    const data = new Float32Array(this.channels * windowLength);
    let missing = false;
    for (let c = 0; c < this.channels; c++) {
      for (let p = 0; p < windowLength; p++) {
        const from = first + p * rowsPerStep;
        const m = this.mean(c, from, from + rowsPerStep - 1);
        if (Number.isNaN(m)) missing = true;
        data[c * windowLength + p] = m;
      }
    }
    return { data, missing };
  }
}

/**
 * The window memory of `evaluate.memory` at a resolution: built from the coarse windows
 * of the unit's normal data (one per row), calibrated on them (leave-neighbours-out over
 * the whole span of windowLength x rowsPerStep rows), then streamed over the test rows
 * with the configured insertion policy; `guard(row, surprise)` is the fused surprise of
 * the window ending at that row. Windows with a missing step score NaN (surprise 0) and
 * are never stored. Window ends are rows.
 */
export async function memoryAtResolution(
  unit: EvalUnit,
  config: EvaluateConfig,
  res: Resolution,
  guard: (row: number, memorySurprise: number) => number,
): Promise<MemoryWindowScores> {
  const started = Date.now();
  const mc = config.evaluate.memory;
  const { rowsPerStep: k, windowLength: W } = res;
  const span = W * k;
  const { channels, test, train } = await unitRecords(unit, config);
  const C = channels.length;
  const trainMeans = new RowMeans(train, C);
  const normal: { data: Float32Array; end: number }[] = [];
  for (let i = span - 1; i < train.length; i++) {
    const w = trainMeans.window(i, k, W);
    if (w && !w.missing) normal.push({ data: w.data, end: i });
  }
  if (normal.length === 0) throw new InputError(`${unit.id}: no normal windows of ${W} steps x ${k} rows for the memory (${train.length} normal rows)`, { file: unit.testFile });
  const memory = WindowMemory.fit(
    normal.map((w) => w.data),
    normal.map((w) => w.end),
    { capacity: mc.capacity, sigmas: mc.sigmas, replacement: mc.replacement },
  );
  const cal = calibrateMemory(memory, normal, span, config.calibration.targetFalseAlarmRate, config.calibration.tailQuantile, config.calibration.tailFit);
  const stream = new StreamMemory(memory, (score) => calibratedSurprise(cal, score), {
    windowLength: span,
    insertEvery: mc.insertEvery,
    insertBelowSurprise: mc.insertBelowSurprise,
  });
  const out: MemoryWindowScores = { windowEnd: [], score: [], surprise: [], size: 0, inserted: 0, bytes: 0, flopsPerWindow: 0, seconds: 0 };
  const means = new RowMeans(test, C);
  for (let i = span - 1; i < test.length; i++) {
    const w = means.window(i, k, W)!;
    const { score, surprise } = w.missing ? { score: Number.NaN, surprise: 0 } : stream.score(w.data);
    out.windowEnd.push(i);
    out.score.push(score);
    out.surprise.push(surprise);
    stream.observe(w.data, i, w.missing ? Number.POSITIVE_INFINITY : guard(i, surprise));
  }
  out.size = memory.size;
  out.inserted = memory.inserted;
  out.bytes = memory.bytes;
  out.flopsPerWindow = memory.flopsPerScore;
  out.seconds = (Date.now() - started) / 1000;
  return out;
}

/**
 * Scores of windows ending at rows (`windowEnd`, increasing) at other windows' end rows
 * (`at`): the score of the window ending at that very row, else of the newest earlier
 * one, else `fill`.
 */
export function scoresAtRows(windowEnd: ArrayLike<number>, scores: ArrayLike<number>, at: ArrayLike<number>, fill: number): number[] {
  if (windowEnd.length !== scores.length) throw new InputError(`${windowEnd.length} window ends for ${scores.length} scores`);
  const out: number[] = [];
  let w = -1;
  for (let j = 0; j < at.length; j++) {
    while (w + 1 < windowEnd.length && windowEnd[w + 1] <= at[j]) w++;
    out.push(w >= 0 ? scores[w] : fill);
  }
  return out;
}
