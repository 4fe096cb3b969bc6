/**
 * Clip and horizon statistics: what a whole clip (offline `score`) or the last
 * `horizonWindows` windows of a device (`serve`) say beyond each window's squared error.
 *
 * Per window the scorer gives the squared error (`raw`) and the mean signed residual
 * x0 − x0_hat per mel band (`channelResiduals`); the window itself gives its mean log-mel
 * spectrum per band (loudness-normalised, dB) and the RMS level of the samples it owns
 * (before normalisation). Pooled over the clip's n windows:
 *
 *   error     ln(mean raw)                       steady rise of the reconstruction error
 *   peak      the largest window raw, as a p-value on the window calibration, Bonferroni
 *             over the n windows: p = min(1, n · P(normal window raw ≥ max raw))   transients
 *   shift     ln(mean_m ((r̄_m − μ_m) / s_m)²)   r̄_m = pooled signed residual of band m:
 *             a steady change of the spectrum the denoiser pulls back towards normal
 *   spectrum  ln(mean_m ((x̄_m − ν_m) / t_m)²)   x̄_m = pooled loudness-normalised log-mel
 *             of band m: the clip's spectral shape against the normal shape
 *   spectrumDb ln(mean_m (x̄_m − ν_m)²)          the same in plain dB (bands with large
 *             level changes weigh more, however steady they are in normal audio)
 *   level     10·log10(mean power) dB FS          the loudness the spectral scores drop
 *   bandMax   ln(max_m ((x̄_m − ν_m) / t_m)²)     the most changed band alone: a tone or a
 *             narrow band that the mean over bands dilutes
 *   profile   ln(mean_f ((v_f − π_f) / q_f)²)      v = the clip's pooled per-band mean and
 *             per-band standard deviation over frames (2·nMels values): a diagonal
 *             Mahalanobis distance on the DCASE-style clip statistics
 *   knn       ln(min_r mean_f ((v_f − v_rf) / q_f)²)  the same vector's distance to the nearest
 *             reference segment r (k = 1): normal sound with several operating states
 *
 * bandMax, profile, knn, spectrum, spectrumDb and level do not depend on the denoiser, so
 * they are calibrated on segments of every training recording (`spectral` in
 * fitClipCalibration; leave one recording out), not only on the few recordings set aside
 * for the denoiser's own statistics (error, shift, peak).
 *
 * Calibration on normal data (`fitClipCalibration`, at training): reference segments of
 * normal audio the denoiser never trained on — parts of the training files set aside by
 * `audio.calibrationClips` (train.ts), else the held-out validation tail of every training
 * clip. μ_m, s_m (ν_m, t_m) are the mean and standard deviation over segments of their
 * pooled band values. A reference segment's own distances are taken against band
 * references fitted without its recording (leave one recording out), and every
 * statistic's spread is measured across recordings, so recording-to-recording variation
 * (what a new clip shows) is in the reference, not just within-recording noise. Surprise:
 * t = (value − mean) / sd (|t| for `level`: louder and quieter are both faults) is judged
 * as a new recording's predictive Student-t with g − 1 df and scale sd·sqrt(1 + 1/g), g
 * the number of reference recordings, and z is the normal quantile of that tail
 * probability (with 3 set-aside recordings a t of 5 is not rare; with 60 it is); for
 * `peak` the normal quantile of 1 − p.
 *
 * Combination rule (documented in docs/audio.md): the combined statistic is the largest z
 * of the member statistics (`ClipCalibration.use`); the combined p-value is Bonferroni,
 * min(1, K · Q(z_max)) with K the number of members (level counts twice: two-sided), the
 * combined score 1 − p, and the clip is anomalous when p ≤ the model's target
 * false-alarm rate. A louder machine is flagged by `level`, a changed spectrum at the
 * same level by `shift` / `spectrum`, a transient by `peak`.
 *
 * Offline and streaming use the same function on the same per-window values in the same
 * order, so `serve`'s horizon statistics equal `score`'s clip statistics whenever the
 * horizon holds the whole clip.
 */
import type { Calibration } from '../../model/artifact.js';
import { exceedanceProbability } from '../../scoring/calibration.js';
import { DEFAULT_CLIP_STATISTICS, type ClipStatistic } from '../../config/audio.js';

export { CLIP_STATISTICS, DEFAULT_CLIP_STATISTICS, type ClipStatistic } from '../../config/audio.js';

export const CLIP_CALIBRATION_VERSION = 1;

/** What one scored window contributes to its clip / horizon. */
export interface WindowContribution {
  raw: number;
  /** Mean signed residual per mel band (model units). */
  residual: Float32Array;
  /** Mean (loudness-normalised) log-mel per band over the window's frames, dB. */
  spectrum: Float32Array;
  /** Mean square of the samples the window owns (linear, before loudness normalisation). */
  power: number;
  /** Mean over the window's frames of the squared log-mel per band (dB²): the per-band spread. */
  spectrumSq: Float32Array;
}

export interface BandReference {
  mean: number[];
  sd: number[];
}

export interface StatReference {
  mean: number;
  sd: number;
  /**
   * Degrees of freedom of the predictive Student-t for a new recording (recordings − 1);
   * `sd` then already holds the predictive scale sd·sqrt(1 + 1/recordings). Absent in
   * calibrations written before it: a plain normal tail.
   */
  df?: number;
}

/** Stored in the audio model's manifest as `features.clipCalibration`. */
export interface ClipCalibration {
  version: number;
  /** Reference segments (held-out normal) and their mean length in windows. */
  segments: number;
  windowsPerSegment: number;
  residual: BandReference;
  spectrum: BandReference;
  /** Reference of each statistic's value (ln scale for error/shift/spectrum, dB for level). */
  error: StatReference;
  shift: StatReference;
  spectrumShift: StatReference;
  spectrumDb: StatReference;
  level: StatReference;
  /**
   * Model-free profile statistics (absent in calibrations written before them: their z is
   * then 0). `profile` is the band reference of the 2·nMels vector [mean_m, sd_m];
   * `profileRefs` the vectors of the reference segments (for knn); `spectralSegments` /
   * `spectralRecordings` how many segments / recordings the model-free statistics saw.
   */
  profile?: BandReference;
  profileRefs?: number[][];
  bandMax?: StatReference;
  profileDist?: StatReference;
  knn?: StatReference;
  spectralSegments?: number;
  spectralRecordings?: number;
  /** Members of the combined score. */
  use: ClipStatistic[];
  /** Target false-alarm rate of the combined decision. */
  falseAlarmRate: number;
}

export interface ClipStatistics {
  windows: number;
  /** Pooled values: ln mean raw, max raw, ln shift, ln spectrum distance, level dB FS. */
  values: { error: number; peak: number; shift: number; spectrum: number; spectrumDb: number; level: number; bandMax: number; profile: number; knn: number };
  /** Surprise of each statistic against normal (standard normal units, larger = stranger). */
  z: Record<ClipStatistic, number>;
  /** max z over the members, its Bonferroni p-value, 1 − p, and p ≤ the false-alarm rate. */
  combinedZ: number;
  combinedP: number;
  combinedScore: number;
  anomaly: boolean;
  /** Statistic with the largest z among the members. */
  top: ClipStatistic;
  /** Bands ordered by |pooled residual z| (largest first, at most 3): the shift's explanation. */
  topShiftBands: number[];
}

// --------------------------------------------------------------------- normal distribution

/** Upper tail Q(z) = P(N(0,1) ≥ z), accurate to ~1e-7 relative (W. J. Cody's erfc via Numerical Recipes). */
export function normalUpperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 0.5 * erfc : 1 - 0.5 * erfc;
}

/** z with Q(z) = p (Acklam's rational approximation, relative error < 1.2e-9); capped at ±40. */
export function normalQuantileUpper(p: number): number {
  if (!(p > 0)) return 40;
  if (p >= 1) return -40;
  const q = 1 - p; // lower-tail probability of z
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  let z: number;
  if (q < lo) {
    const r = Math.sqrt(-2 * Math.log(q));
    z = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  } else if (q <= 1 - lo) {
    const s = q - 0.5;
    const r = s * s;
    z = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * s) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const r = Math.sqrt(-2 * Math.log(p));
    z = -(((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  }
  return Math.max(-40, Math.min(40, z));
}

/** ln Γ(x), Lanczos (g = 7, n = 9), x > 0. */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the regularised incomplete beta (Numerical Recipes' betacf, modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Upper tail P(T ≥ t) of Student's t with df degrees of freedom (df = Infinity: the normal tail). */
export function studentUpperTail(t: number, df: number): number {
  if (!Number.isFinite(df)) return normalUpperTail(t);
  const half = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? half : 1 - half;
}

/**
 * Surprise of a value against a reference, in standard normal units: the normal quantile of
 * its predictive upper-tail probability (Student-t with the reference's df when it has
 * one), so z means the same for a statistic calibrated on 3 recordings as on 60.
 */
function surprise(standardised: number, r: StatReference): number {
  return r.df === undefined ? standardised : normalQuantileUpper(studentUpperTail(standardised, r.df));
}

// ------------------------------------------------------------------------------ pooling

/** Per-window contribution from a window's data ([nMels, W], dB), its level and its score. */
export function windowContribution(data: Float32Array, nMels: number, frames: number, levelDb: number, raw: number, residual: Float32Array): WindowContribution {
  const spectrum = new Float32Array(nMels);
  const spectrumSq = new Float32Array(nMels);
  for (let m = 0; m < nMels; m++) {
    let s = 0;
    let s2 = 0;
    for (let j = 0; j < frames; j++) {
      const v = data[m * frames + j];
      s += v;
      s2 += v * v;
    }
    spectrum[m] = s / frames;
    spectrumSq[m] = s2 / frames;
  }
  return { raw, residual, spectrum, spectrumSq, power: Number.isFinite(levelDb) ? Math.pow(10, levelDb / 10) : 0 };
}

interface Pooled {
  n: number;
  meanRaw: number;
  maxRaw: number;
  residual: Float64Array;
  spectrum: Float64Array;
  /** [mean_m, sd_m] of the log-mel over the pooled frames (2·M values). */
  profile: Float64Array;
  levelDb: number;
}

function pool(cs: readonly WindowContribution[]): Pooled {
  const n = cs.length;
  const M = n > 0 ? cs[0].spectrum.length : 0;
  const R = n > 0 ? cs[0].residual.length : 0;
  const residual = new Float64Array(R);
  const spectrum = new Float64Array(M);
  const sq = new Float64Array(M);
  let raw = 0;
  let maxRaw = -Infinity;
  let power = 0;
  for (const c of cs) {
    raw += c.raw;
    if (c.raw > maxRaw) maxRaw = c.raw;
    power += c.power;
    for (let m = 0; m < R; m++) residual[m] += c.residual[m];
    for (let m = 0; m < M; m++) {
      spectrum[m] += c.spectrum[m];
      sq[m] += c.spectrumSq[m];
    }
  }
  for (let m = 0; m < R; m++) residual[m] /= n;
  const profile = new Float64Array(2 * M);
  for (let m = 0; m < M; m++) {
    spectrum[m] /= n;
    profile[m] = spectrum[m];
    profile[M + m] = Math.sqrt(Math.max(0, sq[m] / n - spectrum[m] * spectrum[m]));
  }
  return { n, meanRaw: raw / n, maxRaw, residual, spectrum, profile, levelDb: 10 * Math.log10(power / n) };
}

/** Smallest sd a band or statistic reference may have, so near-constant references do not explode z. */
const SD_FLOOR = { band: 1e-5, log: 1e-4, levelDb: 0.1 };

/** ln of the mean squared standardised distance of pooled band values to a band reference. */
function bandDistance(values: ArrayLike<number>, ref: BandReference, standardise = true): number {
  const M = values.length;
  let s = 0;
  for (let m = 0; m < M; m++) {
    const z = (values[m] - ref.mean[m]) / (standardise ? ref.sd[m] : 1);
    s += z * z;
  }
  return Math.log(s / M + 1e-12);
}

/** ln of the largest squared band-standardised deviation. */
function bandMaxDistance(values: ArrayLike<number>, ref: BandReference): number {
  let best = 0;
  for (let m = 0; m < values.length; m++) {
    const z = (values[m] - ref.mean[m]) / ref.sd[m];
    if (z * z > best) best = z * z;
  }
  return Math.log(best + 1e-12);
}

/** ln of the smallest mean squared standardised distance to the reference vectors (k = 1). */
function nearestDistance(values: ArrayLike<number>, refs: readonly ArrayLike<number>[], sd: readonly number[]): number {
  let best = Infinity;
  for (const r of refs) {
    let s = 0;
    for (let f = 0; f < values.length && s < best * values.length; f++) {
      const z = (values[f] - r[f]) / sd[f];
      s += z * z;
    }
    if (s / values.length < best) best = s / values.length;
  }
  return Math.log(best + 1e-12);
}

/** Statistics of pooled windows against a clip calibration (and the model's window calibration for `peak`). */
export function clipStatistics(cs: readonly WindowContribution[], cal: ClipCalibration, windowCal: Calibration | null): ClipStatistics {
  const p = pool(cs);
  const values = {
    error: Math.log(Math.max(p.meanRaw, 1e-12)),
    peak: p.maxRaw,
    shift: bandDistance(p.residual, cal.residual),
    spectrum: bandDistance(p.spectrum, cal.spectrum),
    spectrumDb: bandDistance(p.spectrum, cal.spectrum, false),
    level: p.levelDb,
    bandMax: cal.spectrum ? bandMaxDistance(p.spectrum, cal.spectrum) : Number.NaN,
    profile: cal.profile ? bandDistance(p.profile, cal.profile) : Number.NaN,
    knn: cal.profile && cal.profileRefs?.length ? nearestDistance(p.profile, cal.profileRefs, cal.profile.sd) : Number.NaN,
  };
  const std = (v: number, r: StatReference) => surprise((v - r.mean) / r.sd, r);
  // Calibrations written before a statistic existed give it no surprise (z 0), never NaN.
  const stdOpt = (v: number, r: StatReference | undefined) => (r && Number.isFinite(v) ? std(v, r) : 0);
  const peakP = windowCal ? Math.min(1, p.n * exceedanceProbability(windowCal, p.maxRaw)) : 1;
  const z: Record<ClipStatistic, number> = {
    error: std(values.error, cal.error),
    peak: normalQuantileUpper(peakP),
    shift: std(values.shift, cal.shift),
    spectrum: std(values.spectrum, cal.spectrumShift),
    spectrumDb: std(values.spectrumDb, cal.spectrumDb),
    level: Number.isFinite(values.level) ? surprise(Math.abs(values.level - cal.level.mean) / cal.level.sd, cal.level) : 0,
    bandMax: stdOpt(values.bandMax, cal.bandMax),
    profile: stdOpt(values.profile, cal.profileDist),
    knn: stdOpt(values.knn, cal.knn),
  };
  const use = cal.use.length ? cal.use : (['error'] as ClipStatistic[]);
  let top = use[0];
  for (const k of use) if (z[k] > z[top]) top = k;
  const tests = use.length + (use.includes('level') ? 1 : 0);
  const combinedZ = z[top];
  const combinedP = Math.min(1, tests * normalUpperTail(combinedZ));
  const order = Array.from(p.residual, (r, m) => [Math.abs((r - cal.residual.mean[m]) / cal.residual.sd[m]), m] as const).sort((a, b) => b[0] - a[0]);
  return {
    windows: p.n,
    values,
    z,
    combinedZ,
    combinedP,
    combinedScore: 1 - combinedP,
    anomaly: combinedP <= cal.falseAlarmRate,
    top,
    topShiftBands: order.slice(0, 3).map(([, m]) => m),
  };
}

/**
 * The last `capacity` windows of one stream (serve's horizon): statistics over exactly the
 * windows `clipStatistics` would pool offline for the same audio when the clip fits.
 */
export class HorizonPool {
  private readonly ring: WindowContribution[] = [];
  private head = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`horizon capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.ring.length;
  }

  push(c: WindowContribution): void {
    if (this.ring.length < this.capacity) this.ring.push(c);
    else {
      this.ring[this.head] = c;
      this.head = (this.head + 1) % this.capacity;
    }
  }

  /** Windows in arrival order (oldest first), as the offline path pools them. */
  windows(): WindowContribution[] {
    return this.ring.length < this.capacity ? this.ring.slice() : [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
  }

  statistics(cal: ClipCalibration, windowCal: Calibration | null): ClipStatistics {
    return clipStatistics(this.windows(), cal, windowCal);
  }
}

// ---------------------------------------------------------------------------- calibration

function meanSd(xs: ArrayLike<number>, floor: number): StatReference {
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i];
  const mean = s / n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (xs[i] - mean) ** 2;
  const sd = n > 1 ? Math.sqrt(v / (n - 1)) : 0;
  return { mean, sd: Math.max(sd, floor) };
}

function bandReference(rows: Float64Array[], keep: (i: number) => boolean = () => true): BandReference {
  const M = rows[0].length;
  const mean: number[] = [];
  const sd: number[] = [];
  for (let m = 0; m < M; m++) {
    const col: number[] = [];
    rows.forEach((r, i) => {
      if (keep(i)) col.push(r[m]);
    });
    const r = meanSd(col, SD_FLOOR.band);
    mean.push(r.mean);
    sd.push(r.sd);
  }
  return { mean, sd };
}

/**
 * Reference of a per-segment value with recording-to-recording variation in its spread: the
 * mean over all segments, and the rms deviation of each segment from the mean of the
 * segments of *other* recordings (segments of one recording are alike, so their own spread
 * would understate how far a new recording lands).
 */
function crossReference(values: number[], groups: number[], floor: number): StatReference {
  const all = meanSd(values, floor);
  const distinct = new Set(groups).size;
  if (distinct < 2) return all;
  let ss = 0;
  values.forEach((v, i) => {
    const others = values.filter((_, j) => groups[j] !== groups[i]);
    const d = v - others.reduce((s, x) => s + x, 0) / others.length;
    ss += d * d;
  });
  return { mean: all.mean, sd: Math.max(Math.sqrt(ss / values.length), all.sd, floor) };
}

function checkedSegments(segments: WindowContribution[][], groupsIn: number[] | undefined, what: string): { segs: WindowContribution[][]; groups: number[] } {
  const kept = segments.map((s, i) => [s, groupsIn?.[i] ?? i] as const).filter(([s]) => s.length > 0);
  const segs = kept.map(([s]) => s);
  const groups = kept.map(([, g]) => g);
  if (segs.length < 3 || new Set(groups).size < 2)
    throw new RangeError(`${what} needs at least 3 reference segments from 2 recordings, got ${segs.length} from ${new Set(groups).size}`);
  return { segs, groups };
}

/** Largest number of stored profile vectors (knn references): bounds the manifest and the cost per clip. */
export const MAX_PROFILE_REFS = 256;

/** Reference segments for the model-free statistics (no denoiser output needed). */
export interface SpectralSegments {
  segments: WindowContribution[][];
  groups: number[];
}

/**
 * Fits the clip calibration from reference segments of held-out normal windows (one list
 * per segment, in time order). `groups[i]` names the recording segment i came from
 * (default: every segment its own): band references for a segment's own distance leave
 * its whole recording out, and every statistic's spread is measured across recordings
 * (crossReference). Needs at least 3 segments from at least 2 recordings.
 *
 * `spectral`, when given, holds segments of *more* normal recordings (typically every
 * training recording: the model-free statistics do not care whether the denoiser trained
 * on them) for spectrum, spectrumDb, bandMax, profile, knn and level; `segments` then only
 * calibrate error and shift. More recordings make those references and spreads far less
 * noisy than the few set-aside clips alone.
 */
export function fitClipCalibration(
  segments: WindowContribution[][],
  opts: { use?: ClipStatistic[]; falseAlarmRate: number; groups?: number[]; spectral?: SpectralSegments },
): ClipCalibration {
  const { segs, groups } = checkedSegments(segments, opts.groups, 'clip calibration');
  const pooled = segs.map(pool);
  const residuals = pooled.map((p) => p.residual);
  const shift: number[] = [];
  pooled.forEach((p, i) => {
    shift.push(bandDistance(p.residual, bandReference(residuals, (j) => groups[j] !== groups[i])));
  });

  const sp = opts.spectral ? checkedSegments(opts.spectral.segments, opts.spectral.groups, 'spectral calibration') : { segs, groups };
  const sPooled = opts.spectral ? sp.segs.map(pool) : pooled;
  const sGroups = sp.groups;
  const spectra = sPooled.map((p) => p.spectrum);
  const profiles = sPooled.map((p) => p.profile);
  const profileRef = bandReference(profiles);
  const spec: number[] = [];
  const specDb: number[] = [];
  const bandMax: number[] = [];
  const profileDist: number[] = [];
  const knn: number[] = [];
  sPooled.forEach((p, i) => {
    const other = (j: number) => sGroups[j] !== sGroups[i];
    const ref = bandReference(spectra, other);
    spec.push(bandDistance(p.spectrum, ref));
    specDb.push(bandDistance(p.spectrum, ref, false));
    bandMax.push(bandMaxDistance(p.spectrum, ref));
    profileDist.push(bandDistance(p.profile, bandReference(profiles, other)));
    knn.push(nearestDistance(p.profile, profiles.filter((_, j) => other(j)), profileRef.sd));
  });
  const levels = sPooled.map((p) => p.levelDb);
  const finite = levels.map(Number.isFinite);
  // knn references: every segment, or an even subset when there are too many.
  const step = Math.max(1, profiles.length / MAX_PROFILE_REFS);
  const refs: number[][] = [];
  for (let k = 0; Math.floor(k * step) < profiles.length && refs.length < MAX_PROFILE_REFS; k++)
    refs.push(Array.from(profiles[Math.floor(k * step)], (v) => Math.round(v * 1e4) / 1e4));
  // Predictive references for a new recording: a statistic's mean and spread are estimated
  // from g recordings (segments of one recording are not independent draws), so a new
  // recording's value follows a Student-t with g − 1 df and scale sd·sqrt(1 + 1/g).
  const g = new Set(groups).size;
  const sg = new Set(sGroups).size;
  const predictive = (r: StatReference, recordings: number): StatReference => ({
    mean: r.mean,
    sd: r.sd * Math.sqrt(1 + 1 / recordings),
    df: Math.max(1, recordings - 1),
  });
  return {
    version: CLIP_CALIBRATION_VERSION,
    segments: segs.length,
    windowsPerSegment: segs.reduce((s, x) => s + x.length, 0) / segs.length,
    residual: bandReference(residuals),
    spectrum: bandReference(spectra),
    error: predictive(
      crossReference(
        pooled.map((p) => Math.log(Math.max(p.meanRaw, 1e-12))),
        groups,
        SD_FLOOR.log,
      ),
      g,
    ),
    // Distances are already taken against other recordings: their own spread is the reference.
    shift: predictive(meanSd(shift, SD_FLOOR.log), g),
    spectrumShift: predictive(meanSd(spec, SD_FLOOR.log), sg),
    spectrumDb: predictive(meanSd(specDb, SD_FLOOR.log), sg),
    level: predictive(
      crossReference(
        levels.filter((_, i) => finite[i]),
        sGroups.filter((_, i) => finite[i]),
        SD_FLOOR.levelDb,
      ),
      sg,
    ),
    profile: profileRef,
    profileRefs: refs,
    bandMax: predictive(meanSd(bandMax, SD_FLOOR.log), sg),
    profileDist: predictive(meanSd(profileDist, SD_FLOOR.log), sg),
    knn: predictive(meanSd(knn, SD_FLOOR.log), sg),
    spectralSegments: sPooled.length,
    spectralRecordings: new Set(sGroups).size,
    use: opts.use ?? DEFAULT_CLIP_STATISTICS,
    falseAlarmRate: opts.falseAlarmRate,
  };
}

/** Reads a stored clip calibration back (null when absent or of another version). */
export function clipCalibrationFrom(features: Record<string, unknown> | undefined): ClipCalibration | null {
  const c = features?.clipCalibration as ClipCalibration | undefined;
  if (!c || c.version !== CLIP_CALIBRATION_VERSION) return null;
  return c;
}
