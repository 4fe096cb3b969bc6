/**
 * Serving an audio model: PCM records from Kafka, log-mel windows cut per device by
 * `AudioSlot`s (slot.ts), each window's score with the device's horizon statistics
 * (horizon.ts). The model fixes the feature settings; the daemon's `audio` section gives the
 * input rate and channel.
 */
import type { AudioSettings } from '../../config/audio.js';
import type { DaemonConfig } from '../../config/daemon.js';
import type { PcmDecoderConfig } from '../../ingest/decoders.js';
import type { Window } from '../../ingest/types.js';
import type { Detector } from '../../scoring/detector.js';
import { ConfigError } from '../../util/errors.js';
import type { SampledStreaming } from '../featurizer.js';
import type { SlotLane, StreamState } from '../slot.js';
import { AudioEventScorer } from './horizon.js';
import { AudioSlot, pcmAudioDecoder, type AudioSpec } from './slot.js';

export class AudioStreaming implements SampledStreaming {
  readonly kind = 'audio';
  private readonly scorer: AudioEventScorer;

  constructor(
    readonly spec: AudioSpec,
    maxStreams: number,
  ) {
    this.scorer = new AudioEventScorer(spec.settings, maxStreams);
  }

  get inputRate(): number {
    return this.spec.inputRate;
  }

  decoder(cfg: PcmDecoderConfig) {
    return pcmAudioDecoder(cfg, this.spec.settings.channel);
  }

  slot(lane: SlotLane, stream: string, from: StreamState | undefined, now: number): AudioSlot {
    const a = new AudioSlot(lane, stream, this.spec, now, from?.i ?? 0);
    if (from) a.skipSteps = from.k;
    return a;
  }

  /** Per-device horizon statistics (level, spectral shift) beside each window's score. */
  scoreEvents(det: Detector, windows: Window[]) {
    return this.scorer.scoreEvents(det, windows);
  }

  describe(): Record<string, unknown> {
    const { inputRate, settings } = this.spec;
    return { audio: { inputRate, modelRate: settings.sampleRate, channel: settings.channel, resampled: inputRate !== settings.sampleRate } };
  }
}

/**
 * Audio model (manifest features.kind 'audio-logmel'): PCM from Kafka, log-mel windows
 * with the model's own feature settings, input rate and channel from the `audio` section.
 */
export function audioStreaming(settings: AudioSettings, cfg: DaemonConfig): AudioStreaming {
  const issues: string[] = [];
  if (!cfg.source.kafka) issues.push('source: an audio model is served from Kafka PCM messages (source.kafka with decoder.format pcm)');
  else if (cfg.source.kafka.decoder.format !== 'pcm') issues.push(`source.kafka.decoder.format: must be pcm for an audio model, got ${cfg.source.kafka.decoder.format}`);
  if (issues.length) throw new ConfigError('the model is an audio model; the source cannot feed it', issues);
  const channel = cfg.audio.channel ?? settings.channel;
  return new AudioStreaming({ settings: { ...settings, channel }, inputRate: cfg.audio.sampleRate ?? settings.sampleRate }, cfg.streams.maxStreams);
}
