import type { ReportAlert, ReportClip, ReportInput, ReportStream } from '../../src/report/index.js';
import { Rng } from '../../src/util/rng.js';

/** Seeded uniform [0, 1) generator (the project's Rng). */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

export interface SyntheticStreamOptions {
  rows: number;
  channels?: number;
  window?: number;
  hop?: number;
  /** Injected anomaly, rows inclusive (default: 60%–62% of the stream). */
  anomaly?: [number, number];
  timestamps?: boolean;
  name?: string;
  seed?: number;
}

/**
 * A multichannel stream of noisy sines with an injected anomaly on channel 1 (level shift plus
 * a spike), a few missing values, scored windows whose scores rise over the anomaly, alerts
 * built from the flagged runs, and the anomaly as a labelled range.
 */
export function syntheticStream(o: SyntheticStreamOptions): ReportStream {
  const R = o.rows;
  const C = o.channels ?? 3;
  const W = o.window ?? 64;
  const hop = o.hop ?? 16;
  const [a0, a1] = o.anomaly ?? [Math.floor(R * 0.6), Math.floor(R * 0.62)];
  const rand = rng(o.seed ?? 1);
  const names = Array.from({ length: C }, (_, c) => ['temperature', 'pressure', 'vibration', 'current', 'flow'][c] ?? `ch${c}`);
  const values = names.map((_, c) => {
    const v = new Float32Array(R);
    const period = 200 + 90 * c;
    for (let i = 0; i < R; i++) v[i] = (c + 1) * Math.sin((2 * Math.PI * i) / period) + 0.15 * (rand() - 0.5) + c * 0.5;
    return v;
  });
  if (C > 1) {
    for (let i = a0; i <= a1 && i < R; i++) values[1][i] += 3;
    values[1][Math.min(R - 1, Math.floor((a0 + a1) / 2))] += 12;
  }
  for (let k = 0; k < 5; k++) values[0][Math.floor(R * (0.1 + 0.15 * k))] = NaN;
  const N = Math.max(0, Math.floor((R - W) / hop) + 1);
  const start = new Int32Array(N);
  const end = new Int32Array(N);
  const raw = new Float32Array(N);
  const score = new Float32Array(N);
  const anomaly = new Uint8Array(N);
  const topChannel = new Int32Array(N);
  const channelErrors = new Float32Array(N * C);
  const threshold = 0.99;
  for (let w = 0; w < N; w++) {
    const s = w * hop;
    const e = s + W - 1;
    start[w] = s;
    end[w] = e;
    const overlap = Math.max(0, Math.min(e, a1) - Math.max(s, a0) + 1) / W;
    let top = 0;
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const err = 0.05 + 0.05 * rand() + (c === 1 ? 4 * overlap : 0.1 * overlap);
      channelErrors[w * C + c] = err;
      sum += err;
      if (err > channelErrors[w * C + top]) top = c;
    }
    raw[w] = sum / C;
    score[w] = overlap > 0 ? Math.min(1, 0.98 + 0.02 * overlap) : Math.min(0.985, rand());
    anomaly[w] = score[w] >= threshold ? 1 : 0;
    topChannel[w] = top;
  }
  // Alerts: one per run of flagged windows.
  const alerts: ReportAlert[] = [];
  let w = 0;
  while (w < N) {
    if (!anomaly[w]) {
      w++;
      continue;
    }
    const first = w;
    while (w < N && anomaly[w]) w++;
    const errs = new Float32Array(C);
    let peak = 0;
    let peakRaw = 0;
    for (let k = first; k < w; k++) {
      for (let c = 0; c < C; c++) errs[c] += channelErrors[k * C + c] / (w - first);
      peak = Math.max(peak, score[k]);
      peakRaw = Math.max(peakRaw, raw[k]);
    }
    const order = [...errs.keys()].sort((p, q) => errs[q] - errs[p]);
    alerts.push({
      start: start[first],
      end: end[w - 1],
      topChannels: order.slice(0, 3).map((c) => names[c]),
      channelErrors: errs,
      peakScore: peak,
      peakRaw,
      windows: w - first,
    });
  }
  let timestamps: Float64Array | undefined;
  if (o.timestamps) {
    timestamps = new Float64Array(R);
    const t0 = Date.UTC(2024, 0, 1);
    for (let i = 0; i < R; i++) timestamps[i] = t0 + i * 1000;
  }
  return {
    name: o.name ?? 'plant-A/line-3',
    channels: names,
    values,
    timestamps,
    windows: { start, end, raw, score, anomaly, topChannel, channelErrors },
    threshold,
    alerts,
    labels: [{ start: a0, end: a1, name: 'injected level shift' }],
  };
}

export function syntheticClip(name: string, opts: { mels?: number; frames?: number; abnormal?: boolean; seed?: number } = {}): ReportClip {
  const M = opts.mels ?? 64;
  const F = opts.frames ?? 313;
  const rand = rng(opts.seed ?? 7);
  const logMel = new Float32Array(M * F);
  const frameScores = new Float32Array(F);
  const b0 = Math.floor(F * 0.5);
  const b1 = Math.floor(F * 0.6);
  for (let m = 0; m < M; m++) {
    for (let f = 0; f < F; f++) {
      let v = -60 + 10 * rand() - 0.3 * m;
      if (m % 12 === 3) v += 35; // harmonic lines
      if (opts.abnormal && f >= b0 && f < b1 && m > M / 3) v += 25;
      logMel[m * F + f] = v;
    }
  }
  for (let f = 0; f < F; f++) frameScores[f] = 0.1 + 0.1 * rand() + (opts.abnormal && f >= b0 && f < b1 ? 0.7 : 0);
  return {
    name,
    label: opts.abnormal === undefined ? undefined : opts.abnormal ? 'abnormal' : 'normal',
    score: opts.abnormal ? 0.91 : 0.23,
    mels: M,
    frames: F,
    logMel,
    frameScores,
    frameSeconds: 0.032,
    threshold: 0.5,
  };
}

export function syntheticReport(o: SyntheticStreamOptions & { clips?: number }): ReportInput {
  const clips: ReportClip[] = [];
  for (let i = 0; i < (o.clips ?? 1); i++) clips.push(syntheticClip(`fan/id_00/${i % 2 ? 'normal' : 'anomaly'}_${String(i).padStart(4, '0')}.wav`, { abnormal: i % 2 === 0, seed: 10 + i }));
  return {
    title: 'noisefloor report — synthetic plant data',
    generatedAt: new Date(Date.UTC(2024, 4, 1, 12, 0, 0)),
    model: { version: 'diffusion-ts-2024.05.1', window: o.window ?? 64, hop: o.hop ?? 16, scoringMode: 'reconstruction', threshold: 0.99, extra: { 'trained on': 'plant-A (30 days)' } },
    metrics: { 'AUC-PR': 0.912, 'VUS-PR': 0.874, 'event F1': 0.8, 'NAB score': 71.3 },
    streams: [syntheticStream(o)],
    clips,
  };
}
