/**
 * Audio → model windows, incrementally: one `AudioWindower` per stream turns mono samples
 * (at the input rate) into [nMels, frames] log-mel windows (see config.ts for the layout and
 * the loudness offsets). Offline file reading and the streaming adapter both run through
 * this class, so a file scored offline and the same samples pushed in any chunking give the
 * same windows.
 */
import { Resampler, StreamingLogMel, melFilterbank, readWavChunks, readWavInfo } from '../../ingest/audio/index.js';
import type { Window } from '../../ingest/types.js';
import { InputError } from '../../util/errors.js';
import { SILENCE_DB, type AudioSettings } from '../../config/audio.js';

export interface AudioWindowerOptions {
  /** Stream id put on every window (file name or device id). */
  stream: string;
  /** Sample rate of the pushed samples; resampled to settings.sampleRate when different. */
  inputRate: number;
  /** Frames between emitted windows (default settings.hopFrames). */
  hopFrames?: number;
  /** Loudness 'clip' offline: the clip's level in dB FS, known from a first pass. */
  clipLevelDb?: number;
  /** Epoch ms of the first sample: windows then carry startTs / endTs in epoch ms. */
  startTimeMs?: number;
}

/** Mel options for the ingest feature code, from audio settings. */
export function melOptions(a: AudioSettings) {
  return { sampleRate: a.sampleRate, nFft: a.nFft, hop: a.hop, nMels: a.nMels, fMin: a.fMin, fMax: a.fMax ?? a.sampleRate / 2, melScale: a.melScale ?? 'slaney' };
}

/** Centre frequency (Hz) of each mel band. */
export function bandCentresHz(a: AudioSettings): number[] {
  const bank = melFilterbank(melOptions(a));
  return Array.from({ length: a.nMels }, (_, m) => bank.edgesHz[m + 1]);
}

export function bandNames(a: AudioSettings): string[] {
  return bandCentresHz(a).map((hz, m) => `mel${m}@${Math.round(hz)}Hz`);
}

function levelDb(sumSq: number, n: number): number {
  return n > 0 ? 10 * Math.log10(sumSq / n) : -Infinity;
}

export class AudioWindower {
  readonly settings: AudioSettings;
  readonly stream: string;
  readonly hopFrames: number;
  private readonly resampler: Resampler | null;
  private readonly mel: StreamingLogMel;
  private readonly clipLevelDb: number | undefined;
  private readonly startTimeMs: number | undefined;
  /** Blocks of `hop` resampled samples: sum of squares, from block index blockBase. */
  private blocks: number[] = [];
  private blockBase = 0;
  private blockAcc = 0;
  private blockFill = 0;
  /** Log-mel frames from frame index frameBase. */
  private frames: Float32Array[] = [];
  private frameBase = 0;
  private nextStart = 0;
  private totalSq = 0;
  private totalSamples = 0;
  private emitted = 0;

  constructor(settings: AudioSettings, opts: AudioWindowerOptions) {
    this.settings = settings;
    this.stream = opts.stream;
    this.hopFrames = opts.hopFrames ?? settings.hopFrames;
    if (!(opts.inputRate > 0)) throw new RangeError(`inputRate must be > 0, got ${opts.inputRate}`);
    this.resampler = opts.inputRate === settings.sampleRate ? null : new Resampler(opts.inputRate, settings.sampleRate);
    this.mel = new StreamingLogMel(melOptions(settings));
    this.clipLevelDb = opts.clipLevelDb;
    this.startTimeMs = opts.startTimeMs;
  }

  /** Resampled samples seen so far, and their RMS level (dB FS). */
  get samples(): number {
    return this.totalSamples;
  }
  get levelDb(): number {
    return levelDb(this.totalSq, this.totalSamples);
  }
  get framesSeen(): number {
    return this.mel.framesEmitted;
  }
  get windowsEmitted(): number {
    return this.emitted;
  }

  /** Pushes mono samples at the input rate; returns the windows they complete. */
  push(samples: ArrayLike<number>): Window[] {
    const x = this.resampler ? this.resampler.push(samples) : samples;
    return this.analyse(x);
  }

  /** End of input: drains the resampler (a no-op at equal rates). */
  flush(): Window[] {
    return this.resampler ? this.analyse(this.resampler.flush()) : [];
  }

  /** Interleaved frames of `channels` channels: takes settings.channel (or the mean). */
  pushInterleaved(data: ArrayLike<number>, channels: number): Window[] {
    return this.push(selectChannel(data, channels, this.settings.channel, this.stream));
  }

  private analyse(x: ArrayLike<number>): Window[] {
    const hop = this.settings.hop;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      this.blockAcc += v * v;
      if (++this.blockFill === hop) {
        this.blocks.push(this.blockAcc);
        this.totalSq += this.blockAcc;
        this.blockAcc = 0;
        this.blockFill = 0;
      }
    }
    this.totalSamples += x.length;
    const fm = this.mel.push(x);
    const nMels = this.settings.nMels;
    for (let t = 0; t < fm.nFrames; t++) this.frames.push(fm.data.slice(t * nMels, (t + 1) * nMels));
    const out: Window[] = [];
    const W = this.settings.frames;
    while (this.nextStart + W <= this.frameBase + this.frames.length) {
      out.push(this.makeWindow(this.nextStart));
      this.nextStart += this.hopFrames;
    }
    this.trim();
    return out;
  }

  private blockSum(from: number, to: number): number {
    let s = 0;
    for (let b = Math.max(from, this.blockBase); b < to; b++) s += this.blocks[b - this.blockBase];
    return s;
  }

  /** RMS level (dB FS) of the samples a window's frames own, [start·hop, (start + W)·hop). */
  private windowLevelDb(start: number): number {
    const { frames: W, hop } = this.settings;
    return levelDb(this.blockSum(start, start + W), W * hop);
  }

  private offsetFor(start: number, windowLevel: number): number {
    const { loudness, frames: W, hop, sampleRate } = this.settings;
    if (loudness.mode === 'none') return 0;
    let level: number;
    if (loudness.mode === 'window') level = windowLevel;
    else if (this.clipLevelDb !== undefined) level = this.clipLevelDb;
    else {
      const k = Math.max(1, Math.round((loudness.clipSeconds * sampleRate) / hop));
      const from = Math.max(0, start + W - k);
      level = levelDb(this.blockSum(from, start + W), (start + W - from) * hop);
    }
    return level >= SILENCE_DB ? loudness.targetDb - level : 0;
  }

  private makeWindow(start: number): Window {
    const { nMels, frames: W, hop, nFft, sampleRate } = this.settings;
    const level = this.windowLevelDb(start);
    const off = this.offsetFor(start, level);
    const data = new Float32Array(nMels * W);
    for (let j = 0; j < W; j++) {
      const f = this.frames[start + j - this.frameBase];
      for (let m = 0; m < nMels; m++) data[m * W + j] = f[m] + off;
    }
    const w: Window = { stream: this.stream, channels: nMels, length: W, data, start, end: start + W - 1, missing: 0, levelDb: level };
    if (this.startTimeMs !== undefined) {
      w.startTs = this.startTimeMs + ((start * hop) / sampleRate) * 1000;
      w.endTs = this.startTimeMs + (((start + W - 1) * hop + nFft) / sampleRate) * 1000;
    }
    this.emitted++;
    return w;
  }

  /** Drops frames and blocks no future window needs. */
  private trim(): void {
    const { loudness, sampleRate, hop, frames: W } = this.settings;
    const dropF = Math.min(this.nextStart - this.frameBase, this.frames.length);
    if (dropF > 0) {
      this.frames.splice(0, dropF);
      this.frameBase += dropF;
    }
    let keepFrom = this.nextStart;
    if (loudness.mode === 'clip' && this.clipLevelDb === undefined) {
      const k = Math.max(1, Math.round((loudness.clipSeconds * sampleRate) / hop));
      keepFrom = Math.max(0, this.nextStart + W - k);
    }
    const dropB = Math.min(keepFrom - this.blockBase, this.blocks.length);
    if (dropB > 0) {
      this.blocks.splice(0, dropB);
      this.blockBase += dropB;
    }
  }
}

/** One channel (0-based) or the channel mean of interleaved frames. */
export function selectChannel(data: ArrayLike<number>, channels: number, channel: number | 'mix', stream = ''): Float32Array {
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be a positive integer, got ${channels}`);
  if (channels === 1) return Float32Array.from(data);
  if (channel !== 'mix' && channel >= channels)
    throw new InputError(`channel ${channel} requested but the stream has ${channels} channel(s)`, { file: stream || undefined });
  const n = Math.floor(data.length / channels);
  const out = new Float32Array(n);
  for (let f = 0; f < n; f++) {
    if (channel === 'mix') {
      let s = 0;
      for (let c = 0; c < channels; c++) s += data[f * channels + c];
      out[f] = s / channels;
    } else out[f] = data[f * channels + channel];
  }
  return out;
}

export interface FileFeatureStats {
  /** Input sample rate of the file. */
  inputRate: number;
  /** Resampled samples, frames and windows. */
  samples: number;
  frames: number;
  windows: number;
  /** RMS level of the resampled clip (dB FS). */
  levelDb: number;
  durationSeconds: number;
}

/** RMS level (dB FS) of a file's selected channel after resampling: one streaming pass. */
export async function fileLevelDb(file: string, settings: AudioSettings): Promise<number> {
  const info = await readWavInfo(file);
  const rs = info.sampleRate === settings.sampleRate ? null : new Resampler(info.sampleRate, settings.sampleRate);
  let sq = 0;
  let n = 0;
  const add = (x: ArrayLike<number>) => {
    for (let i = 0; i < x.length; i++) sq += x[i] * x[i];
    n += x.length;
  };
  for await (const chunk of readWavChunks(file, { channel: settings.channel })) add(rs ? rs.push(chunk) : chunk);
  if (rs) add(rs.flush());
  return levelDb(sq, n);
}

/**
 * Windows of a WAV file, in batches, with bounded memory (readWavChunks → AudioWindower).
 * Loudness 'clip' makes a first pass for the clip's level. `stats` is filled at the end.
 * `gainDb` scales the samples first (e.g. to score clips brought to one RMS level).
 */
export async function* fileWindows(
  file: string,
  settings: AudioSettings,
  opts: { hopFrames?: number; stream?: string; stats?: Partial<FileFeatureStats>; chunkFrames?: number; gainDb?: number } = {},
): AsyncGenerator<Window[], void, undefined> {
  const info = await readWavInfo(file);
  const gainDb = opts.gainDb ?? 0;
  const clipLevelDb = settings.loudness.mode === 'clip' ? (await fileLevelDb(file, settings)) + gainDb : undefined;
  const w = new AudioWindower(settings, { stream: opts.stream ?? file, inputRate: info.sampleRate, hopFrames: opts.hopFrames, clipLevelDb });
  const g = Math.pow(10, gainDb / 20);
  for await (const chunk of readWavChunks(file, { channel: settings.channel, chunkFrames: opts.chunkFrames ?? 32768 })) {
    if (gainDb !== 0) for (let i = 0; i < chunk.length; i++) chunk[i] *= g;
    const ws = w.push(chunk);
    if (ws.length) yield ws;
  }
  const tail = w.flush();
  if (tail.length) yield tail;
  if (w.windowsEmitted === 0)
    throw new InputError(
      `too short: ${w.framesSeen} log-mel frames, fewer than one window of ${settings.frames} frames (${(
        ((settings.frames - 1) * settings.hop + settings.nFft) /
        settings.sampleRate
      ).toFixed(2)} s)`,
      { file },
    );
  if (opts.stats)
    Object.assign(opts.stats, {
      inputRate: info.sampleRate,
      samples: w.samples,
      frames: w.framesSeen,
      windows: w.windowsEmitted,
      levelDb: w.levelDb,
      durationSeconds: info.durationSeconds,
    });
}
