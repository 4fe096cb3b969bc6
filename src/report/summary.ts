import { InputError } from '../util/errors.js';
import type { ReportClip, ReportStream } from './types.js';

/** A run of consecutive flagged windows (in window order). */
export interface FlaggedRun {
  /** Index of the first and last window of the run. */
  firstWindow: number;
  lastWindow: number;
  /** Rows covered: start of the first window to end of the last (inclusive). */
  start: number;
  end: number;
}

export interface StreamSummary {
  rows: number;
  channels: number;
  windows: number;
  flagged: number;
  /** Longest run of consecutive flagged windows, or null when nothing was flagged. */
  longestRun: FlaggedRun | null;
  runs: number;
  /** Channels most often the top channel of a flagged window, most frequent first (at most 5). */
  topChannels: { name: string; count: number }[];
  alerts: number;
  maxScore: number;
  maxRaw: number;
  /** Missing (NaN) values over all channels. */
  missing: number;
}

const isFlag = (v: boolean | number) => v === true || (typeof v === 'number' && v !== 0);

/** Runs of consecutive flagged windows. */
export function flaggedRuns(stream: ReportStream): FlaggedRun[] {
  const w = stream.windows;
  const runs: FlaggedRun[] = [];
  let cur: FlaggedRun | null = null;
  for (let i = 0; i < w.anomaly.length; i++) {
    if (!isFlag(w.anomaly[i])) {
      cur = null;
      continue;
    }
    if (cur) {
      cur.lastWindow = i;
      cur.end = Math.max(cur.end, w.end[i]);
    } else {
      cur = { firstWindow: i, lastWindow: i, start: w.start[i], end: w.end[i] };
      runs.push(cur);
    }
  }
  return runs;
}

/**
 * Merge row ranges that overlap or lie within `gap` rows of each other (input in any order).
 * Used to keep the number of shaded rectangles bounded by the drawing resolution.
 */
export function mergeRanges<T extends { start: number; end: number }>(ranges: T[], gap: number): { start: number; end: number }[] {
  const sorted = ranges.map((r) => ({ start: r.start, end: r.end })).sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + gap) last.end = Math.max(last.end, r.end);
    else out.push(r);
  }
  return out;
}

export function summariseStream(stream: ReportStream, runs = flaggedRuns(stream)): StreamSummary {
  const w = stream.windows;
  const n = w.anomaly.length;
  let flagged = 0;
  let maxScore = -Infinity;
  let maxRaw = -Infinity;
  const topCount = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    if (w.score[i] > maxScore) maxScore = w.score[i];
    if (w.raw[i] > maxRaw) maxRaw = w.raw[i];
    if (!isFlag(w.anomaly[i])) continue;
    flagged++;
    const c = w.topChannel[i];
    topCount.set(c, (topCount.get(c) ?? 0) + 1);
  }
  let longestRun: FlaggedRun | null = null;
  for (const r of runs) {
    if (!longestRun || r.lastWindow - r.firstWindow > longestRun.lastWindow - longestRun.firstWindow) longestRun = r;
  }
  let missing = 0;
  for (const v of stream.values) for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) missing++;
  const topChannels = [...topCount.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, 5)
    .map(([c, count]) => ({ name: stream.channels[c] ?? `#${c}`, count }));
  return {
    rows: stream.values[0]?.length ?? 0,
    channels: stream.channels.length,
    windows: n,
    flagged,
    longestRun,
    runs: runs.length,
    topChannels,
    alerts: stream.alerts.length,
    maxScore: n ? maxScore : NaN,
    maxRaw: n ? maxRaw : NaN,
    missing,
  };
}

/** Check the shapes of a stream; throws InputError naming the first inconsistency. */
export function validateStream(s: ReportStream): void {
  const where = `report stream "${s.name}"`;
  const fail = (msg: string) => {
    throw new InputError(`${where}: ${msg}`);
  };
  const C = s.channels.length;
  if (s.values.length !== C) fail(`${s.values.length} value arrays for ${C} channels`);
  const R = C ? s.values[0].length : 0;
  s.values.forEach((v, c) => {
    if (v.length !== R) fail(`channel "${s.channels[c]}" has ${v.length} rows, expected ${R}`);
  });
  if (s.timestamps && s.timestamps.length !== R) fail(`${s.timestamps.length} timestamps for ${R} rows`);
  const w = s.windows;
  const N = w.start.length;
  for (const [k, a] of Object.entries({ end: w.end, raw: w.raw, score: w.score, anomaly: w.anomaly, topChannel: w.topChannel })) {
    if (a.length !== N) fail(`windows.${k} has ${a.length} entries, windows.start has ${N}`);
  }
  if (w.channelErrors && w.channelErrors.length !== N * C) {
    fail(`windows.channelErrors has ${w.channelErrors.length} entries, expected ${N} windows × ${C} channels`);
  }
  s.alerts.forEach((a, i) => {
    if (a.channelErrors.length !== C) fail(`alert ${i + 1} has ${a.channelErrors.length} channel errors, expected ${C}`);
  });
}

export function validateClip(c: ReportClip): void {
  const fail = (msg: string) => {
    throw new InputError(`report clip "${c.name}": ${msg}`);
  };
  if (!(c.mels > 0 && c.frames > 0)) fail(`bad spectrogram shape ${c.mels} × ${c.frames}`);
  if (c.logMel.length !== c.mels * c.frames) fail(`logMel has ${c.logMel.length} values, expected ${c.mels} × ${c.frames}`);
  if (c.frameScores.length !== c.frames) fail(`${c.frameScores.length} frame scores for ${c.frames} frames`);
}
