/**
 * Streaming audio in the daemon: PCM messages (keyed by device) → log-mel windows, with the
 * commit tracking of streams.ts carried over from steps to samples.
 *
 * One `AudioSlot` per device and lane wraps an `AudioWindower` (resampler, one FFT per STFT
 * hop, loudness, windows of `frames` frames every `hopFrames` frames; see features.ts) plus
 * the map from input samples back to Kafka offsets: a FIFO of the stream's messages still
 * needed (offset, first input sample, sample count, record timestamp).
 *
 * ## Which offset may be committed
 *
 * Frame t covers resampled samples [t·hop, t·hop + nFft); a window of frames [s, s + W)
 * covers resampled samples from s·hop on (its loudness blocks too). Windows of one stream
 * complete in order, so the oldest frame the stream still needs is the first frame of its
 * oldest in-flight window, else the first frame of its next, not-yet-cut window
 * (emitted·hopFrames). Its first resampled sample n maps back to the input sample
 *   u = n                                  at equal rates,
 *   u = max(0, floor(n·M/L) − lookahead)   when resampling by L/M (the kernel reaches
 *                                          `lookahead` input samples either side),
 * and u to (message offset, sample-in-message). That offset is the stream's low-water mark,
 * exactly as for steps: every message below it only holds samples whose windows were all
 * scored and handed on.
 *
 * ## Resuming on the frame grid
 *
 * At equal rates the resume point (o, k, i) is: skip the input samples before sample k of
 * message o, and number the next frame i (a window start). Re-reading from there gives the
 * same frames, the same windows (same `start`/`end`, same data for loudness `none` and
 * `window`) as without the restart. When the daemon resamples, a restart cannot reproduce
 * the resampler's state mid-stream, so such streams write no resume point: they restart at
 * the lane's commit offset and warm up again (frames numbered from there), covering more,
 * never less.
 */
import { AudioWindower, selectChannel } from './features.js';
import type { AudioSettings } from '../../config/audio.js';
import { pcmToFloat32 } from './stream.js';
import { DecodeError, type PcmDecoderConfig, type RawMessage } from '../../ingest/decoders.js';
import { Resampler } from '../../ingest/audio/index.js';
import type { Window } from '../../ingest/types.js';
import { ConfigError } from '../../util/errors.js';
import type { ResumePoint, SampleSlot, SlotLane, StreamState } from '../slot.js';

/** How the registry turns PCM into windows (fixed at start-up, from the model and the config). */
export interface AudioSpec {
  /** The audio model's settings (channel possibly overridden by the daemon config). */
  settings: AudioSettings;
  /** Sample rate of the incoming PCM (Hz). */
  inputRate: number;
}

interface RateMap {
  up: number;
  down: number;
  lookahead: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

const rateMaps = new Map<string, RateMap | null>();

/** null at equal rates; else L/M and the resampler kernel's reach in input samples. */
export function rateMap(inputRate: number, modelRate: number): RateMap | null {
  const key = `${inputRate}/${modelRate}`;
  let m = rateMaps.get(key);
  if (m === undefined) {
    if (inputRate === modelRate) m = null;
    else {
      const g = gcd(inputRate, modelRate);
      m = { up: modelRate / g, down: inputRate / g, lookahead: new Resampler(inputRate, modelRate).lookahead + 1 };
    }
    rateMaps.set(key, m);
  }
  return m;
}

interface MessageSpan {
  offset: number;
  /** Local input sample index of the message's first (kept) sample. */
  first: number;
  count: number;
  /** Epoch ms of the first kept sample, when the record had a timestamp. */
  ts: number | undefined;
}

export class AudioSlot implements SampleSlot {
  readonly kind = 'audio';
  readonly windower: AudioWindower;
  /** False when resampling: no exact resume point can be written (see the module comment). */
  readonly resumable: boolean;
  lastOffset = -1;
  lastSeen: number;
  /** Input samples still to skip after a resume (ResumePoint.k). */
  skipSteps = 0;
  alive = true;
  /** Input samples pushed (after skipping). */
  private samples = 0;
  private readonly spans: MessageSpan[] = [];
  private spanHead = 0;
  /** Local start frames of windows in flight, oldest first. */
  private readonly inflight: number[] = [];
  private inflightHead = 0;
  private readonly rate: RateMap | null;

  constructor(
    readonly lane: SlotLane,
    readonly stream: string,
    readonly spec: AudioSpec,
    now: number,
    /** Frame index of local frame 0 (non-zero after a resume). */
    readonly base = 0,
  ) {
    this.windower = new AudioWindower(spec.settings, { stream, inputRate: spec.inputRate });
    this.rate = rateMap(spec.inputRate, spec.settings.sampleRate);
    this.resumable = this.rate === null;
    this.lastSeen = now;
  }

  get inflightCount(): number {
    return this.inflight.length - this.inflightHead;
  }

  /** Mono samples of one message (at the input rate); returns the windows they complete. */
  push(offset: number, x: Float32Array, ts: number | undefined): Window[] {
    this.lastOffset = offset;
    if (x.length === 0) return [];
    this.spans.push({ offset, first: this.samples, count: x.length, ts });
    this.samples += x.length;
    const ws = this.windower.push(x);
    for (const w of ws) {
      this.inflight.push(w.start);
      this.stamp(w);
    }
    this.trim();
    return ws;
  }

  /** Local frame → the local input sample its first resampled sample depends on. */
  private inputSample(frame: number): number {
    const n = frame * this.spec.settings.hop;
    if (!this.rate) return n;
    return Math.max(0, Math.floor((n * this.rate.down) / this.rate.up) - this.rate.lookahead);
  }

  /** Absolute frame numbers and epoch-ms times (from the record timestamps of the samples' messages). */
  private stamp(w: Window): void {
    const { hop, nFft } = this.spec.settings;
    const first = this.timeOf(this.rate ? Math.floor((w.start * hop * this.rate.down) / this.rate.up) : w.start * hop);
    const lastResampled = w.end * hop + nFft - 1;
    const last = this.timeOf(this.rate ? Math.floor((lastResampled * this.rate.down) / this.rate.up) : lastResampled);
    w.start += this.base;
    w.end += this.base;
    if (first !== undefined) w.startTs = first;
    if (last !== undefined) w.endTs = last;
  }

  private timeOf(u: number): number | undefined {
    for (let i = this.spans.length - 1; i >= this.spanHead; i--) {
      const s = this.spans[i];
      if (s.first <= u) return s.ts === undefined ? undefined : s.ts + ((u - s.first) / this.spec.inputRate) * 1000;
    }
    return undefined;
  }

  /** Oldest local frame still needed. */
  private neededFrame(): number {
    if (this.inflightCount > 0) return this.inflight[this.inflightHead];
    return this.windower.windowsEmitted * this.windower.hopFrames;
  }

  /** Forgets message spans wholly before the needed input sample. */
  private trim(): void {
    const u = this.inputSample(this.neededFrame());
    while (this.spanHead < this.spans.length - 1 && this.spans[this.spanHead].first + this.spans[this.spanHead].count <= u) this.spanHead++;
    if (this.spanHead > 64 && this.spanHead * 2 > this.spans.length) {
      this.spans.splice(0, this.spanHead);
      this.spanHead = 0;
    }
  }

  /** The oldest in-flight window of this stream was scored and handed on. */
  completeOldest(): void {
    if (this.inflightHead >= this.inflight.length) throw new Error(`stream ${this.stream}: no window in flight`);
    this.inflightHead++;
    if (this.inflightHead > 64 && this.inflightHead * 2 > this.inflight.length) {
      this.inflight.splice(0, this.inflightHead);
      this.inflightHead = 0;
    }
    this.trim();
  }

  /** The oldest input sample this stream still needs, as (offset, sample-in-message, frame index). */
  resumePoint(): ResumePoint {
    const frame = this.neededFrame();
    const u = this.inputSample(frame);
    for (let i = this.spanHead; i < this.spans.length; i++) {
      const s = this.spans[i];
      if (u < s.first + s.count) return { o: s.offset, k: Math.max(0, u - s.first), i: this.base + frame };
    }
    // Not seen yet (hopFrames > frames, or nothing pushed): skip the gap after a restart.
    return { o: this.lastOffset + 1, k: u - this.samples + this.skipSteps, i: this.base + frame };
  }

  commitPoint(): { offset: number; state: StreamState | null } {
    const p = this.resumePoint();
    return { offset: p.o, state: this.resumable ? { ...p, r: this.lastOffset, a: Math.round(this.lastSeen) } : null };
  }

  parkedState(): StreamState | null {
    if (!this.resumable) return null;
    const p = this.resumePoint();
    return { o: p.o, k: p.k, i: p.i, r: this.lastOffset, a: Math.round(this.lastSeen) };
  }

  jumpState(): StreamState | null {
    if (!this.resumable) return null;
    return { i: this.base + this.windower.windowsEmitted * this.windower.hopFrames, o: this.lastOffset + 1, k: 0, r: this.lastOffset, a: Math.round(this.lastSeen) };
  }
}

// ----------------------------------------------------------------------------- decoding

export interface PcmAudioMessage {
  stream: string;
  ts?: number;
  /** Mono samples (the configured channel, or the channel mean), at the input rate. */
  samples: Float32Array;
}

/**
 * Decodes a PCM record straight to mono float samples (no per-frame arrays): the checks and
 * error kinds of the `pcm` decoder (ingest/decoders.ts), then the audio channel selection.
 */
export function pcmAudioDecoder(cfg: PcmDecoderConfig, channel: number | 'mix'): (msg: RawMessage) => PcmAudioMessage {
  const size = cfg.sample === 'f32le' ? 4 : 2;
  const frameBytes = size * cfg.channels;
  if (channel !== 'mix' && channel >= cfg.channels)
    throw new ConfigError(`audio channel ${channel} requested but source.kafka.decoder.channels is ${cfg.channels}`, [`audio.channel: ${channel} >= decoder channels ${cfg.channels}`]);
  return (msg) => {
    const loc = { topic: msg.topic, partition: msg.partition, offset: msg.offset };
    const v = msg.value;
    if (v === null || v.length === 0) throw new DecodeError('empty', 'empty message value', loc);
    if (v.length > cfg.maxBytes)
      throw new DecodeError('oversized', `message value is ${v.length} bytes, more than the ${cfg.maxBytes} allowed (maxBytes)`, loc, { limit: 'message_bytes' });
    if (v.length % frameBytes !== 0)
      throw new DecodeError('malformed', `${v.length} bytes is not a whole number of ${cfg.sample} frames of ${cfg.channels} channel(s) (${frameBytes} bytes each)`, loc);
    const stream = msg.key && msg.key.length > 0 ? msg.key.toString('utf8') : cfg.defaultStream;
    if (stream === undefined) throw new DecodeError('malformed', 'no stream id: no message key and no defaultStream', loc);
    const x = pcmToFloat32(v, cfg.sample, stream);
    const samples = cfg.channels === 1 ? x : selectChannel(x, cfg.channels, channel, stream);
    const n = Number(msg.timestamp);
    const ts = cfg.useMessageTimestamp && msg.timestamp !== '' && Number.isFinite(n) && n >= 0 ? n : undefined;
    return ts === undefined ? { stream, samples } : { stream, ts, samples };
  };
}
