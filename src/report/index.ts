export { renderReport, escapeHtml, formatNumber, initiallyVisibleChannels } from './render.js';
export { minMaxDownsample, bucketExtrema, bucketBounds, maxPoolColumns } from './downsample.js';
export type { Downsampled, BucketExtrema } from './downsample.js';
export { summariseStream, flaggedRuns, mergeRanges } from './summary.js';
export type { StreamSummary, FlaggedRun } from './summary.js';
export type {
  ReportInput,
  ReportModelInfo,
  ReportStream,
  ReportWindows,
  ReportAlert,
  ReportRange,
  ReportClip,
  RenderOptions,
} from './types.js';
