/**
 * Loudness helpers: RMS level and RMS normalisation.
 *
 * Levels are in dB relative to digital full scale with the plain RMS convention:
 * rmsDb = 20·log10(rms), so a full-scale square wave is 0 dB and a full-scale sine is
 * −3.01 dB. (Not LUFS: no K-weighting and no gating; for stationary machine sound the
 * difference is a near-constant offset.)
 *
 * The MIMII abnormal clips are louder than the normal ones, so RMS alone is a baseline
 * detector (score = rmsDb), and models should also be tested on loudness-normalised input.
 */

/** Root mean square of the samples (0 for an empty array). */
export function rms(samples: ArrayLike<number>): number {
  const n = samples.length;
  if (n === 0) return 0;
  let acc = 0;
  for (let i = 0; i < n; i++) acc += samples[i] * samples[i];
  return Math.sqrt(acc / n);
}

/** RMS level in dB full scale; -Infinity for silence. */
export function rmsDb(samples: ArrayLike<number>): number {
  return 20 * Math.log10(rms(samples));
}

export interface NormaliseOptions {
  /**
   * Input whose RMS level is below this (dB FS) is treated as silence and returned
   * unscaled, so digital silence or dither is not amplified into noise. Default −100 dB.
   */
  silenceDb?: number;
}

/**
 * Scales the samples so their RMS level is `targetRmsDb` (dB FS). Returns a new array;
 * silent input (below `silenceDb`) is returned as an unscaled copy. The result is not
 * clipped: values may exceed ±1 when the target is high (features take floats).
 */
export function normaliseLoudness(
  samples: ArrayLike<number>,
  targetRmsDb: number,
  opts: NormaliseOptions = {},
): Float32Array {
  if (!Number.isFinite(targetRmsDb)) throw new RangeError(`targetRmsDb must be finite, got ${targetRmsDb}`);
  const out = Float32Array.from(samples);
  const level = rmsDb(samples);
  if (!(level >= (opts.silenceDb ?? -100))) return out;
  const gain = Math.pow(10, (targetRmsDb - level) / 20);
  for (let i = 0; i < out.length; i++) out[i] *= gain;
  return out;
}
