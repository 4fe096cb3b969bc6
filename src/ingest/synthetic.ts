import { Rng } from '../util/rng.js';

/**
 * Synthetic multichannel series: sines of a few periods with noise and cross-channel
 * structure (channel 1 follows channel 0 with a lag, channel 2 is their mixture), the data
 * of the embedded default, the generator source and the tests. Anomalies are injected by
 * kind at known positions so detection can be measured.
 */
export type AnomalyKind = 'spike' | 'level' | 'frequency' | 'flat' | 'decorrelate';
export const ANOMALY_KINDS: AnomalyKind[] = ['spike', 'level', 'frequency', 'flat', 'decorrelate'];

export interface SyntheticOptions {
  channels?: number;
  period?: number;
  noise?: number;
  seed?: number;
  /** Phase offset in steps, so different streams are not identical. */
  phase?: number;
}

/** Value of channel c at step i of the normal process. */
export class SyntheticProcess {
  private readonly rng: Rng;
  readonly channels: number;
  readonly period: number;
  readonly noise: number;
  readonly phase: number;

  constructor(opts: SyntheticOptions = {}) {
    this.channels = opts.channels ?? 3;
    this.period = opts.period ?? 32;
    this.noise = opts.noise ?? 0.1;
    this.phase = opts.phase ?? 0;
    this.rng = new Rng(opts.seed ?? 1);
  }

  /** Noise-free signal of channel c at step i, with frequency multiplier f. */
  clean(c: number, i: number, f = 1): number {
    const w = (2 * Math.PI * f) / this.period;
    const x = i + this.phase;
    const a = Math.sin(w * x);
    const b = Math.sin(w * (x - this.period / 8)) * 0.8 + 0.3 * Math.sin(3 * w * x);
    if (c === 0) return a;
    if (c === 1) return b;
    // Further channels mix the first two with channel-specific weights.
    const k = c - 1;
    return (a * Math.cos(k) + b * Math.sin(k)) * 0.9 + 0.1 * k;
  }

  step(i: number, out: Float64Array = new Float64Array(this.channels), f = 1): Float64Array {
    for (let c = 0; c < this.channels; c++) out[c] = this.clean(c, i, f) + this.noise * this.rng.normal();
    return out;
  }

  noiseSample(): number {
    return this.noise * this.rng.normal();
  }
}

export interface InjectedAnomaly {
  kind: AnomalyKind;
  start: number;
  end: number;
  channel: number;
}

/**
 * n steps of the process with `anomalies` applied: values[i][c]. Anomaly ranges are
 * inclusive row indices.
 */
export function generateSeries(n: number, opts: SyntheticOptions = {}, anomalies: InjectedAnomaly[] = []): Float64Array[] {
  const proc = new SyntheticProcess(opts);
  const rows: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const a = anomalies.find((x) => i >= x.start && i <= x.end);
    const v = proc.step(i, new Float64Array(proc.channels), a?.kind === 'frequency' ? 2.3 : 1);
    if (a) applyAnomaly(proc, a, i, v);
    rows.push(v);
  }
  return rows;
}

function applyAnomaly(proc: SyntheticProcess, a: InjectedAnomaly, i: number, v: Float64Array): void {
  const c = a.channel;
  switch (a.kind) {
    case 'spike':
      if (i === a.start) v[c] += 6;
      break;
    case 'level':
      v[c] += 2.5;
      break;
    case 'flat':
      v[c] = proc.clean(c, a.start) + 0.001 * proc.noiseSample();
      break;
    case 'decorrelate':
      // The channel keeps its own amplitude and spectrum but loses its phase relation.
      v[c] = proc.clean(c, i + Math.round(proc.period * 0.37)) + proc.noiseSample();
      break;
    case 'frequency':
      break;
  }
}

export function seriesToCsv(rows: Float64Array[], names?: string[], startMs?: number, stepMs = 60_000): string {
  const C = rows[0]?.length ?? 0;
  const cols = names ?? Array.from({ length: C }, (_, c) => `ch${c}`);
  const lines = [(startMs !== undefined ? ['timestamp', ...cols] : cols).join(',')];
  rows.forEach((r, i) => {
    const vals = Array.from(r, (x) => x.toFixed(5));
    lines.push((startMs !== undefined ? [new Date(startMs + i * stepMs).toISOString(), ...vals] : vals).join(','));
  });
  return lines.join('\n') + '\n';
}
