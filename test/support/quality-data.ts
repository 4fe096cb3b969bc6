/**
 * Generated data for the detection-quality tests: the project's synthetic process
 * (src/ingest/synthetic.ts) with anomalies that keep every channel's amplitude, level and
 * loudness normal, so that a detector has to know the signal's shape and the channels'
 * relation to find them. Deterministic by seed: the regression set is regenerated, not stored.
 */
import { generateSeries, SyntheticProcess, type SyntheticOptions } from '../../src/ingest/synthetic.js';

/**
 * Anomaly kinds at normal amplitude and level:
 *  - decorrelate: (the project's kind) channel 1 is shifted in time against the others:
 *    same amplitude and spectrum, broken cross-channel relation;
 *  - harmonic-flip: channel 1's third harmonic changes sign: the same power spectrum (so the
 *    same loudness and first-difference energy), another wave shape, and channel 2 (a mix
 *    of 0 and 1) no longer matches channel 1.
 * (Tried and dropped: flipping the sign of channel 2's weight of channel 1 changes channel 2's
 * spread, since channels 0 and 1 are correlated; a robust z of the spread finds it.)
 */
export type QualityKind = 'decorrelate' | 'harmonic-flip';
export const QUALITY_KINDS: QualityKind[] = ['decorrelate', 'harmonic-flip'];

export interface QualityCase {
  rows: Float64Array[];
  /** Inclusive step range of the anomaly. */
  start: number;
  end: number;
  channel: number;
}

export function qualitySeries(kind: QualityKind, n: number, opts: SyntheticOptions, start: number, end: number): QualityCase {
  if (kind === 'decorrelate') return { rows: generateSeries(n, opts, [{ kind: 'decorrelate', start, end, channel: 1 }]), start, end, channel: 1 };
  const rows = generateSeries(n, opts);
  const proc = new SyntheticProcess(opts);
  const w = (2 * Math.PI) / proc.period;
  // Channel 1 = 0.8 sin(w (x - P/8)) + 0.3 sin(3 w x) + noise: subtract the harmonic twice.
  for (let i = start; i <= end; i++) rows[i][1] -= 2 * 0.3 * Math.sin(3 * w * (i + proc.phase));
  return { rows, start, end, channel: 1 };
}
