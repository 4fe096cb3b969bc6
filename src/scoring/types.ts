import type { Window } from '../ingest/types.js';

/** Result of scoring one window. */
export interface WindowScore {
  /** Raw anomaly score: mean squared reconstruction (or denoising) error in model space. */
  raw: number;
  /** Calibrated score in [0, 1]: 1 - P(raw score of a normal window >= raw). */
  score: number;
  /**
   * -log10 P(raw score of a normal window >= raw), without a cap (computed in log space, so
   * it keeps the order of raw scores where 1 - score has rounded to 0); NaN without a
   * calibration. score = 1 - 10^-surprise.
   */
  surprise: number;
  /** True when raw >= the model's calibrated threshold. */
  anomaly: boolean;
  /** Mean error per channel (length C): the explanation of which channels look wrong. */
  channelErrors: Float32Array;
  /** Mean error per time step (length W) over channels: where in the window it looks wrong. */
  timeErrors: Float32Array;
  /** Mean signed residual x0 - x0_hat per channel (length C), in model units. */
  channelResiduals: Float32Array;
  /** Index of the channel with the largest error. */
  topChannel: number;
}

/**
 * Statistics pooled over a stream's recent windows (audio: the last `horizonWindows`
 * windows of a device, src/features/audio/clip-stats.ts): the same numbers `score` reports per clip.
 */
export interface PooledScore {
  windows: number;
  /** RMS level over the pooled windows, dB FS. */
  levelDb: number;
  /** Surprise of each statistic against normal data (standard normal units). */
  z: Record<string, number>;
  /** Combined score 1 − p (Bonferroni over the member statistics) and its decision. */
  score: number;
  anomaly: boolean;
  /** Member statistic with the largest surprise. */
  top: string;
  /** Channels (mel bands) whose pooled signed residual is most unusual, at most 3. */
  topChannels: string[];
}

/** A scored window with its identity: what the daemon hands to alerts and outputs. */
export interface ScoreEvent {
  stream: string;
  start: number;
  end: number;
  startTs?: number | string;
  endTs?: number | string;
  raw: number;
  score: number;
  /**
   * The surprise behind `score` (-log10 of its tail probability, no cap; with serve's window
   * memory the fused surprise): it orders windows whose scores have all rounded to 1.
   * Absent without a calibration.
   */
  surprise?: number;
  /** Threshold on the calibrated scale the flag was decided with. */
  threshold: number;
  anomaly: boolean;
  /** Channel names ordered by error, largest first (at most 3). */
  topChannels: string[];
  channelErrors: number[];
  modelVersion: string;
  /** Audio: the device's horizon statistics after this window (its `anomaly` is ORed into `anomaly`). */
  horizon?: PooledScore;
  /**
   * With serve's window memory: the calibrated surprise (-log10 tail probability) of each
   * part that was fused into `score`; memory null while the stream's memory warms up.
   */
  parts?: { network: number; memory: number | null };
}

export type ScoredWindow = { window: Window; result: WindowScore };
