/**
 * Streaming adapter: PCM from devices → log-mel windows the daemon's batcher can score.
 *
 *   const streams = new AudioStreams(settings);        // settings = audio model's features
 *   const ws = streams.push('fan-3', samples);          // Float32Array, mono, input rate
 *   const ws = streams.pushPcm('fan-3', bytes, { sample: 's16le', channels: 8 });
 *   await detector.score(ws);                           // Window[]: [nMels, frames] each
 *
 * One `AudioWindower` per stream id keeps that stream's state (resampler, the last n_fft
 * samples, the frames and block levels the next window needs): memory per stream is
 * O(nFft + frames·nMels), whatever the stream's length. Windows are emitted every
 * `hopFrames` frames as soon as their last frame is complete; `start`/`end` are frame
 * indices since the stream began (frame t covers resampled samples [t·hop, t·hop + nFft)),
 * and startTs/endTs are epoch ms when the stream's start time is given. The windows equal
 * the offline path's (`fileWindows`) for the same samples, whatever the chunking, for
 * loudness 'none' and 'window'; 'clip' uses the RMS of the last `clipSeconds` of audio
 * (offline uses the whole clip's RMS).
 */
import type { Window } from '../../ingest/types.js';
import { InputError } from '../../util/errors.js';
import type { AudioSettings } from '../../config/audio.js';
import { AudioWindower, selectChannel } from './features.js';

export type PcmSample = 's16le' | 'f32le';

export interface PcmFormat {
  sample: PcmSample;
  /** Interleaved channels per frame (default 1). */
  channels?: number;
  /** Sample rate of this stream (default settings.sampleRate). */
  sampleRate?: number;
}

/** Little-endian int16 (scaled by 1/32768) or float32 bytes → Float32Array (interleaved as given). */
export function pcmToFloat32(bytes: Uint8Array, sample: PcmSample, stream = ''): Float32Array {
  const size = sample === 's16le' ? 2 : 4;
  if (bytes.length % size !== 0)
    throw new InputError(`PCM payload of ${bytes.length} bytes is not a whole number of ${sample} samples`, { file: stream || undefined });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / size;
  const out = new Float32Array(n);
  if (sample === 's16le') for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

export interface AudioStreamsOptions {
  /** Input sample rate of streams that do not say (default settings.sampleRate). */
  inputRate?: number;
  /** Frames between windows (default settings.hopFrames). */
  hopFrames?: number;
}

export class AudioStreams {
  private readonly streams = new Map<string, { w: AudioWindower; rate: number }>();

  constructor(
    readonly settings: AudioSettings,
    private readonly opts: AudioStreamsOptions = {},
  ) {}

  /** Starts (or restarts) a stream; `startTimeMs` stamps its windows with epoch-ms times. */
  open(stream: string, opts: { sampleRate?: number; startTimeMs?: number } = {}): AudioWindower {
    const rate = opts.sampleRate ?? this.opts.inputRate ?? this.settings.sampleRate;
    const w = new AudioWindower(this.settings, { stream, inputRate: rate, hopFrames: this.opts.hopFrames, startTimeMs: opts.startTimeMs });
    this.streams.set(stream, { w, rate });
    return w;
  }

  private get(stream: string, rate?: number): AudioWindower {
    const s = this.streams.get(stream);
    if (s && (rate === undefined || rate === s.rate)) return s.w;
    if (s) throw new InputError(`stream changed sample rate from ${s.rate} to ${rate} Hz; close() it first`, { file: stream });
    return this.open(stream, { sampleRate: rate });
  }

  /** Mono float samples (at the stream's input rate); returns the windows they complete. */
  push(stream: string, samples: ArrayLike<number>): Window[] {
    return this.get(stream).push(samples);
  }

  /** Interleaved float frames of `channels` channels (the settings' channel or mix is taken). */
  pushInterleaved(stream: string, data: ArrayLike<number>, channels: number): Window[] {
    return this.get(stream).push(selectChannel(data, channels, this.settings.channel, stream));
  }

  /** Raw PCM bytes (e.g. a Kafka message value). */
  pushPcm(stream: string, bytes: Uint8Array, format: PcmFormat): Window[] {
    const w = this.get(stream, format.sampleRate);
    const x = pcmToFloat32(bytes, format.sample, stream);
    const ch = format.channels ?? 1;
    if (x.length % ch !== 0) throw new InputError(`PCM payload has a partial frame (${x.length} samples, ${ch} channels)`, { file: stream });
    return w.push(selectChannel(x, ch, this.settings.channel, stream));
  }

  /** Time steps as the Kafka PCM decoder gives them: one array of channel values per frame. */
  pushSteps(stream: string, steps: ArrayLike<number>[]): Window[] {
    if (steps.length === 0) return [];
    const ch = steps[0].length;
    const flat = new Float32Array(steps.length * ch);
    steps.forEach((s, i) => {
      if (s.length !== ch) throw new InputError(`frame ${i} has ${s.length} channels, expected ${ch}`, { file: stream });
      for (let c = 0; c < ch; c++) flat[i * ch + c] = s[c];
    });
    return this.pushInterleaved(stream, flat, ch);
  }

  /** Ends a stream: drains its resampler and forgets its state. */
  close(stream: string): Window[] {
    const s = this.streams.get(stream);
    if (!s) return [];
    this.streams.delete(stream);
    return s.w.flush();
  }

  get streamIds(): string[] {
    return [...this.streams.keys()];
  }
}
