/** One time step of a multichannel series as read from a file or a message. */
export interface SeriesRecord {
  /** 0-based row index of this record within its stream (data rows, header excluded). */
  index: number;
  /** 1-based line number in the source file, when the record came from a file. */
  line?: number;
  /** Timestamp as given by the source: epoch milliseconds when it parsed, else the raw text. */
  ts?: number | string;
  /** One value per channel; NaN marks a missing value. */
  values: Float64Array;
}

/**
 * A window of W steps over C channels, ready for scoring. `data` is channel-major raw
 * (un-normalised) values: data[c * length + i]. The model directory's normaliser turns it
 * into model space, so producers never need to know the normalisation.
 */
export interface Window {
  stream: string;
  channels: number;
  length: number;
  data: Float32Array;
  /** Row index (within the stream) of the first and last step, inclusive. */
  start: number;
  end: number;
  startTs?: number | string;
  endTs?: number | string;
  /** Steps in this window that were missing in the input and filled by the missing-value rule. */
  missing: number;
  /** Audio windows: RMS level (dB FS) of the samples the window owns, before loudness normalisation. */
  levelDb?: number;
}

/** Description of what a source yields, known before the first record. */
export interface SeriesHeader {
  stream: string;
  channels: string[];
  hasTimestamps: boolean;
}
