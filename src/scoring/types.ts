import type { Window } from '../ingest/types.js';

/** Result of scoring one window. */
export interface WindowScore {
  /** Raw anomaly score: mean squared reconstruction (or denoising) error in model space. */
  raw: number;
  /** Calibrated score in [0, 1]: 1 - P(raw score of a normal window >= raw). */
  score: number;
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

/** A scored window with its identity: what the daemon hands to alerts and outputs. */
export interface ScoreEvent {
  stream: string;
  start: number;
  end: number;
  startTs?: number | string;
  endTs?: number | string;
  raw: number;
  score: number;
  /** Threshold on the calibrated scale the flag was decided with. */
  threshold: number;
  anomaly: boolean;
  /** Channel names ordered by error, largest first (at most 3). */
  topChannels: string[];
  channelErrors: number[];
  modelVersion: string;
}

export type ScoredWindow = { window: Window; result: WindowScore };
