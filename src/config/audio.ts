/**
 * Audio settings: how WAV / PCM audio becomes model windows.
 *
 * Signal path (the same offline and streaming):
 *   samples (one channel, or the channel mean) → resample to `sampleRate` → log-mel frames
 *   (non-centred framing: frame t covers samples [t·hop, t·hop + nFft), periodic Hann,
 *   power 2, Slaney mel filterbank, DCASE log 10·log10(mel + ε), in dB)
 *   → loudness offset (see `loudness`) → windows of `frames` consecutive frames every
 *   `hopFrames` frames.
 *
 * Window layout: a model window is [C, W] with C = nMels (one "channel" per mel band, low
 * to high) and W = `frames` (time, oldest first), channel-major like every noisefloor window:
 * data[m·W + j] = logmel[start + j][m]. The mixer's patches run over time (P frames × all
 * mel bands per token), so `frames` must be a multiple of `model.patch`. The per-channel
 * robust normaliser becomes a per-mel-band normaliser, the scorer's channelErrors are
 * per-band errors and its timeErrors per-frame errors.
 *
 * Loudness: scaling the signal by a gain g shifts every log-mel value by exactly
 * 20·log10(g) dB (power 2, up to the ε floor), so normalisation to `targetDb` is applied as
 * the offset targetDb − level on the log-mel values:
 *   - none:   no offset.
 *   - clip:   level = RMS (dB FS) of the whole resampled clip (offline: a first pass over
 *             the file; streaming: RMS over the last `clipSeconds` of audio).
 *   - window: level = RMS (dB FS) of the samples the window's frames own,
 *             [start·hop, (start + W)·hop) — causal and identical offline and streaming.
 * A level below −100 dB FS (digital silence) gets no offset.
 */
import { z } from 'zod';
import { coreConfigSchema } from './core.js';

/** The clip / horizon statistics (src/features/audio/clip-stats.ts computes them); here so the schema sits in config. */
export const CLIP_STATISTICS = ['error', 'peak', 'shift', 'spectrum', 'spectrumDb', 'level', 'bandMax', 'profile', 'knn'] as const;
export type ClipStatistic = (typeof CLIP_STATISTICS)[number];
export const DEFAULT_CLIP_STATISTICS: ClipStatistic[] = ['error', 'spectrum', 'level'];

export const AUDIO_FEATURES_KIND = 'audio-logmel';
export const AUDIO_FEATURES_VERSION = 1;
/** Levels below this are treated as silence: no loudness offset. */
export const SILENCE_DB = -100;

const isPow2 = (n: number) => Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;

export const audioSchema = z
  .object({
    /** Audio is resampled to this rate (Hz) before analysis. */
    sampleRate: z.number().int().min(1000).max(384000).default(16000),
    /** 0-based channel index, or 'mix' (mean over channels). */
    channel: z.union([z.number().int().min(0), z.literal('mix')]).default('mix'),
    nFft: z.number().int().refine(isPow2, 'nFft must be a power of two').default(1024),
    /** STFT hop in samples (<= nFft). */
    hop: z.number().int().min(1).default(512),
    /** Default 64: picked label-free (fifth selection run, bench/audio-spectral.ts, docs/audio.md). */
    nMels: z.number().int().min(1).max(512).default(64),
    /** Default 0 Hz (config/audio.yaml too: fourth selection run). */
    fMin: z.number().min(0).default(0),
    /** Default sampleRate / 2. */
    fMax: z.number().positive().optional(),
    /**
     * Mel scale of the filterbank: 'slaney' (librosa's default: linear below 1 kHz) or 'htk'
     * (2595·log10(1 + f/700): more, narrower bands at the low end). Default 'slaney', so
     * models saved before this key score exactly as they were trained; config/audio.yaml
     * sets it (docs/audio.md, fifth selection run).
     */
    melScale: z.enum(['slaney', 'htk']).default('slaney'),
    /** Frames per model window (W); a multiple of model.patch. */
    frames: z.number().int().min(2).max(4096).default(32),
    /** Frames between scored windows. */
    hopFrames: z.number().int().min(1).default(8),
    /** Frames between training windows (default 1: every alignment). */
    trainHopFrames: z.number().int().min(1).default(2),
    loudness: z
      .object({
        mode: z.enum(['none', 'clip', 'window']).default('window'),
        /** Target RMS level in dB FS. */
        targetDb: z.number().min(-120).max(20).default(-30),
        /** Streaming 'clip' mode: length of the trailing level estimate, seconds. */
        clipSeconds: z.number().positive().default(10),
      })
      .strict()
      .default({ mode: 'window', targetDb: -30, clipSeconds: 10 }),
    /** How window scores become one clip score. */
    aggregation: z.enum(['mean', 'max', 'topk']).default('mean'),
    /** topk: mean of the highest ceil(topkFraction · n) window scores. */
    topkFraction: z.number().gt(0).max(1).default(0.1),
    /**
     * Members of the combined clip / horizon score (clip-stats.ts): error (mean squared
     * error), peak (largest window error: transients), shift (pooled signed residual per
     * band), spectrum / spectrumDb (pooled log-mel shape per band, standardised / dB),
     * level (RMS level, dB FS), bandMax (most changed band), profile (per-band mean + sd,
     * diagonal Mahalanobis), knn (nearest reference profile). Default chosen label-free
     * (docs/audio.md: fourth selection run for the members, fifth for spectrum over spectrumDb).
     */
    clipScores: z.array(z.enum(CLIP_STATISTICS)).min(1).default([...DEFAULT_CLIP_STATISTICS]),
    /**
     * Share of the training files (at least 3, when there are >= 6) set aside from
     * training to calibrate the clip statistics on recordings the model never saw; 0 uses
     * the held-out tail of every training clip instead.
     */
    calibrationClips: z.number().min(0).max(0.5).default(0.3),
    /** serve: windows per device pooled into the horizon statistics (36 ≈ 10 s at the default hop). */
    horizonWindows: z.number().int().min(1).max(100_000).default(36),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.hop > a.nFft) ctx.addIssue({ code: 'custom', path: ['hop'], message: `hop ${a.hop} must be <= nFft ${a.nFft}` });
    const fMax = a.fMax ?? a.sampleRate / 2;
    if (fMax > a.sampleRate / 2) ctx.addIssue({ code: 'custom', path: ['fMax'], message: `fMax ${fMax} exceeds sampleRate/2` });
    if (a.fMin >= fMax) ctx.addIssue({ code: 'custom', path: ['fMin'], message: `fMin ${a.fMin} must be < fMax ${fMax}` });
  });

export type AudioSettings = z.infer<typeof audioSchema>;
export type AggregationMethod = AudioSettings['aggregation'];
export type LoudnessMode = AudioSettings['loudness']['mode'];

/** A config file for audio: the core sections plus `audio`. */
export const audioConfigSchema = coreConfigSchema.extend({
  audio: audioSchema.default(audioSchema.parse({})),
});
export type AudioConfig = z.infer<typeof audioConfigSchema>;

/**
 * What the manifest's `features` record holds for an audio model; src/model/artifact.ts checks
 * it when a model is read (one member of the manifest's `features` union).
 */
export const audioFeaturesSchema = z
  .object({
    kind: z.literal(AUDIO_FEATURES_KIND),
    version: z.number().int(),
    audio: audioSchema,
    /** Centre frequencies (Hz) of the mel bands, for explanations. */
    bandHz: z.array(z.number()),
    /** The clip calibration (src/features/audio/clip-stats.ts), fitted per training; its own version field. */
    clipCalibration: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
export type AudioFeatures = z.infer<typeof audioFeaturesSchema>;

export function audioFeaturesRecord(audio: AudioSettings, bandHz: number[]): AudioFeatures {
  return { kind: AUDIO_FEATURES_KIND, version: AUDIO_FEATURES_VERSION, audio, bandHz };
}

/** The audio settings of a manifest's `features`; null if it is not an audio model. */
export function audioSettingsFromFeatures(features: { kind: string } | undefined): AudioSettings | null {
  if (!features || features.kind !== AUDIO_FEATURES_KIND) return null;
  return (features as AudioFeatures).audio;
}
