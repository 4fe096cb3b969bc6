/**
 * Input model of the HTML report. Everything the page shows comes from one `ReportInput`;
 * `renderReport` turns it into a single self-contained HTML file.
 *
 * Numeric per-row / per-window arrays accept any `ArrayLike<number>` (plain arrays or
 * typed arrays), so callers can hand over what they already hold without copying.
 */

/** Which model produced the scores, shown in the report header. */
export interface ReportModelInfo {
  version: string;
  /** Window length W in steps (time series) or frames (audio). */
  window: number;
  /** Hop between consecutive windows, in steps. */
  hop: number;
  /** Scoring mode, e.g. "reconstruction" or "denoising". */
  scoringMode: string;
  /** Decision threshold as the model stores it (calibrated scale unless noted in `extra`). */
  threshold: number;
  /** Further key/value facts shown next to the model info (training data, provider, ...). */
  extra?: Record<string, string | number>;
}

/**
 * The scored windows of one stream, as parallel arrays of length N (one entry per window,
 * in scoring order).
 */
export interface ReportWindows {
  /** First row (0-based, inclusive) of each window. */
  start: ArrayLike<number>;
  /** Last row (inclusive) of each window. */
  end: ArrayLike<number>;
  /** Raw anomaly score of each window. */
  raw: ArrayLike<number>;
  /** Calibrated score in [0, 1] of each window. */
  score: ArrayLike<number>;
  /** Anomaly flag of each window (boolean, or 0/1 e.g. a Uint8Array). */
  anomaly: ArrayLike<boolean | number>;
  /** Index (into the stream's `channels`) of the channel with the largest error. */
  topChannel: ArrayLike<number>;
  /**
   * Optional per-channel error, window-major and flat: channelErrors[w * C + c], length N * C.
   * When present the report draws a channel × time error heat map.
   */
  channelErrors?: ArrayLike<number>;
}

/** A range of rows (inclusive at both ends). */
export interface ReportRange {
  start: number;
  end: number;
  /** Optional name shown on hover, e.g. the benchmark's label for the anomaly. */
  name?: string;
}

/** One alert: a run of flagged windows that the alerting stage reported. */
export interface ReportAlert {
  /** First and last row (inclusive) covered by the alert. */
  start: number;
  end: number;
  /** Channel names ordered by error, largest first. */
  topChannels: string[];
  /** Error per channel (length C, same order as the stream's `channels`). */
  channelErrors: ArrayLike<number>;
  /** Highest calibrated score within the alert. */
  peakScore: number;
  /** Highest raw score within the alert, when known. */
  peakRaw?: number;
  /** Number of windows in the alert, when known. */
  windows?: number;
}

/** One multichannel time series with its scores. */
export interface ReportStream {
  name: string;
  /** Channel names, length C. */
  channels: string[];
  /** One Float32Array of length R (rows) per channel; NaN marks a missing value. */
  values: Float32Array[];
  /**
   * Optional timestamps in epoch milliseconds, length R. When given, the x axis is time;
   * otherwise it is the row index.
   */
  timestamps?: ArrayLike<number>;
  windows: ReportWindows;
  /** Threshold on the calibrated scale the anomaly flags were decided with. */
  threshold: number;
  alerts: ReportAlert[];
  /** Optional labelled anomaly ranges (ground truth from a benchmark), in rows. */
  labels?: ReportRange[];
}

/** One scored audio clip. */
export interface ReportClip {
  name: string;
  /** Ground-truth label when known. */
  label?: 'normal' | 'abnormal';
  /** Clip-level anomaly score (higher is more anomalous). */
  score: number;
  /** Number of mel bands (rows of the spectrogram). */
  mels: number;
  /** Number of frames (columns of the spectrogram). */
  frames: number;
  /**
   * Log-mel spectrogram, mel-major: logMel[m * frames + f], m = 0 is the lowest band.
   * Length mels * frames. Any log scale (dB or natural log); the page maps each clip's own
   * range to the colour map.
   */
  logMel: Float32Array;
  /** Per-frame anomaly score, length `frames`. */
  frameScores: ArrayLike<number>;
  /** Seconds between frames; when given the x axis is labelled in seconds. */
  frameSeconds?: number;
  /** Optional threshold for the per-frame score, drawn as a dashed line. */
  threshold?: number;
}

export interface ReportInput {
  title: string;
  /** When the report was generated (Date, ISO string or epoch ms). */
  generatedAt: Date | string | number;
  model: ReportModelInfo;
  /** Optional evaluation metrics: name → value (e.g. "AUC-PR": 0.91, "event F1": 0.8). */
  metrics?: Record<string, number | string>;
  streams?: ReportStream[];
  clips?: ReportClip[];
}

/** Knobs for the size / detail trade-off of the generated file. */
export interface RenderOptions {
  /** Pixel buckets per series for the min/max downsampler (default 4000). */
  maxBuckets?: number;
  /** At most this many columns per spectrogram; wider ones are max-pooled (default 1500). */
  maxSpectrogramFrames?: number;
  /** Clips drawn in detail (highest score first); the ranking table lists all (default 40). */
  maxClipDetails?: number;
  /** Buckets of the channel error heat map (default 1000). */
  maxHeatmapBuckets?: number;
}
