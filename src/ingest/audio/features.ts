/**
 * Log-mel features (offline and streaming), following librosa / the DCASE task 2 baseline.
 *
 * Pipeline, for a signal x and frame t (frame start s_t = t·hop):
 *
 *   1. Window: periodic Hann, w[i] = 0.5 − 0.5·cos(2π·i / n_fft), i = 0..n_fft−1
 *      (scipy.signal.get_window('hann', n_fft, fftbins=True), librosa's window).
 *   2. Spectrum: X_t[k] = Σ_i w[i]·x[s_t + i]·e^(−2πj·i·k / n_fft), k = 0..n_fft/2
 *      (fft.js real transform); power spectrum P_t[k] = |X_t[k]|^power (power 2 default).
 *   3. Mel filterbank (librosa.filters.mel): n_mels + 2 edge frequencies f_0..f_{M+1}
 *      equally spaced on the mel scale between fMin and fMax; filter m is the triangle
 *      rising from f_m to f_{m+1} and falling to f_{m+2}, evaluated at the FFT bin
 *      frequencies k·sr/n_fft:
 *          W[m][k] = max(0, min((f_k − f_m)/(f_{m+1} − f_m), (f_{m+2} − f_k)/(f_{m+2} − f_{m+1})))
 *      With norm 'slaney' (default) each triangle is scaled by 2 / (f_{m+2} − f_m), so every
 *      filter has unit area in Hz (constant energy per band).
 *      Mel scales: 'slaney' (default; librosa htk=False, Auditory Toolbox):
 *          mel(f) = 3f/200                              for f < 1000 Hz
 *          mel(f) = 15 + ln(f/1000) / (ln(6.4)/27)      for f ≥ 1000 Hz
 *      and 'htk': mel(f) = 2595·log10(1 + f/700).
 *      mel_t[m] = Σ_k W[m][k]·P_t[k].
 *   4. Log (default 'dcase', as the DCASE baseline): 20/power · log10(mel + ε) with
 *      ε = 2.220446e-16 (Python's sys.float_info.epsilon); alternative 'floor':
 *      10·log10(max(mel, floor)), floor 1e-10 (librosa.power_to_db with ref 1, no top_db);
 *      'none' keeps the mel power.
 *   5. Context stacking (DCASE baseline): vector v is the concatenation of frames
 *      v, v+1, ..., v+context−1, i.e. v[j·n_mels + m] = logmel[v + j][m]; a clip of T frames
 *      gives T − context + 1 vectors.
 *
 * Framing: offline extraction defaults to center = true like librosa: the signal is padded
 * by n_fft/2 on both sides (pad mode 'reflect', numpy's reflect without edge repeat, as
 * librosa < 0.10 and the DCASE baseline; librosa ≥ 0.10 defaults to 'constant' zeros) and
 * T = 1 + floor(N / hop). With center = false, frame t covers x[t·hop .. t·hop + n_fft) and
 * T = 1 + floor((N − n_fft) / hop) (0 if N < n_fft). The streaming extractor always works
 * in the non-centred mode (centring needs future samples at the start only, but it needs
 * the signal's end to pad the end), and its frames equal offline center = false frames
 * exactly.
 *
 * Defaults: n_fft 1024, hop 512, 128 mels, fMin 0, fMax sr/2, power 2 — the DCASE baseline.
 * Arithmetic is in float64; results are returned as Float32Array.
 */
import FFT from 'fft.js';

export type MelScale = 'slaney' | 'htk';
export type MelNorm = 'slaney' | 'none';
export type PadMode = 'reflect' | 'constant';
export type LogScaling = { kind: 'dcase'; eps?: number } | { kind: 'floor'; floor?: number } | { kind: 'none' };

export interface SpectrumOptions {
  nFft?: number;
  hop?: number;
  /** |X|^power: 2 for power (default), 1 for magnitude. */
  power?: number;
}

export interface MelOptions extends SpectrumOptions {
  sampleRate: number;
  nMels?: number;
  fMin?: number;
  /** Default sampleRate / 2. */
  fMax?: number;
  melScale?: MelScale;
  melNorm?: MelNorm;
  log?: LogScaling;
}

export interface FramingOptions {
  /** Pad n_fft/2 on both sides so frame t is centred at t·hop (default true). */
  center?: boolean;
  padMode?: PadMode;
}

/** Row-major frames: data[t * dim + d]. */
export interface FrameMatrix {
  nFrames: number;
  dim: number;
  data: Float32Array;
}

export const DEFAULT_N_FFT = 1024;
export const DEFAULT_HOP = 512;
export const DEFAULT_N_MELS = 128;
/** Python's sys.float_info.epsilon, the DCASE baseline's log offset. */
export const DCASE_LOG_EPS = 2.220446049250313e-16;

/** Hann window; periodic (default, for spectral analysis) or symmetric. */
export function hannWindow(n: number, periodic = true): Float64Array {
  const w = new Float64Array(n);
  const d = periodic ? n : n - 1;
  if (d === 0) {
    w.fill(1);
    return w;
  }
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / d);
  return w;
}

const SLANEY_F_SP = 200 / 3;
const SLANEY_MIN_LOG_HZ = 1000;
const SLANEY_MIN_LOG_MEL = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;
const SLANEY_LOGSTEP = Math.log(6.4) / 27;

export function hzToMel(hz: number, scale: MelScale = 'slaney'): number {
  if (scale === 'htk') return 2595 * Math.log10(1 + hz / 700);
  if (hz >= SLANEY_MIN_LOG_HZ) return SLANEY_MIN_LOG_MEL + Math.log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
  return hz / SLANEY_F_SP;
}

export function melToHz(mel: number, scale: MelScale = 'slaney'): number {
  if (scale === 'htk') return 700 * (Math.pow(10, mel / 2595) - 1);
  if (mel >= SLANEY_MIN_LOG_MEL) return SLANEY_MIN_LOG_HZ * Math.exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
  return SLANEY_F_SP * mel;
}

export interface MelFilterbank {
  nMels: number;
  /** n_fft / 2 + 1 */
  nBins: number;
  /** Dense weights, weights[m * nBins + k]. */
  weights: Float64Array;
  /** The n_mels + 2 edge frequencies in Hz. */
  edgesHz: Float64Array;
  /** Non-zero range of each filter: bins [start[m], end[m]). */
  start: Int32Array;
  end: Int32Array;
}

export function melFilterbank(opts: {
  sampleRate: number;
  nFft?: number;
  nMels?: number;
  fMin?: number;
  fMax?: number;
  melScale?: MelScale;
  melNorm?: MelNorm;
}): MelFilterbank {
  const sr = opts.sampleRate;
  const nFft = opts.nFft ?? DEFAULT_N_FFT;
  const nMels = opts.nMels ?? DEFAULT_N_MELS;
  const fMin = opts.fMin ?? 0;
  const fMax = opts.fMax ?? sr / 2;
  const scale = opts.melScale ?? 'slaney';
  const norm = opts.melNorm ?? 'slaney';
  if (!(sr > 0)) throw new RangeError(`sampleRate must be > 0, got ${sr}`);
  if (!(nMels >= 1)) throw new RangeError(`nMels must be >= 1, got ${nMels}`);
  if (!(fMin >= 0 && fMax > fMin && fMax <= sr / 2 + 1e-9)) {
    throw new RangeError(`need 0 <= fMin < fMax <= sampleRate/2, got fMin ${fMin}, fMax ${fMax}`);
  }
  const nBins = Math.floor(nFft / 2) + 1;
  const melMin = hzToMel(fMin, scale);
  const melMax = hzToMel(fMax, scale);
  const edgesHz = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) edgesHz[i] = melToHz(melMin + ((melMax - melMin) * i) / (nMels + 1), scale);
  const weights = new Float64Array(nMels * nBins);
  const start = new Int32Array(nMels);
  const end = new Int32Array(nMels);
  for (let m = 0; m < nMels; m++) {
    const lo = edgesHz[m];
    const mid = edgesHz[m + 1];
    const hi = edgesHz[m + 2];
    const enorm = norm === 'slaney' ? 2 / (hi - lo) : 1;
    let s = nBins;
    let e = 0;
    for (let k = 0; k < nBins; k++) {
      const f = (k * sr) / nFft;
      const w = Math.max(0, Math.min((f - lo) / (mid - lo), (hi - f) / (hi - mid)));
      if (w > 0) {
        weights[m * nBins + k] = w * enorm;
        if (k < s) s = k;
        e = k + 1;
      }
    }
    start[m] = s < e ? s : 0;
    end[m] = e;
  }
  return { nMels, nBins, weights, edgesHz, start, end };
}

/** Number of frames for N samples. */
export function frameCount(nSamples: number, nFft: number, hop: number, center: boolean): number {
  if (center) return 1 + Math.floor(nSamples / hop);
  return nSamples < nFft ? 0 : 1 + Math.floor((nSamples - nFft) / hop);
}

/** Pads n_fft/2 samples on both sides (numpy 'reflect' or 'constant' zeros). */
export function padCentre(samples: ArrayLike<number>, pad: number, mode: PadMode): Float64Array {
  const n = samples.length;
  const out = new Float64Array(n + 2 * pad);
  for (let i = 0; i < n; i++) out[pad + i] = samples[i];
  if (mode === 'constant' || n === 0) return out;
  const period = 2 * (n - 1);
  const reflect = (i: number): number => {
    if (period === 0) return 0;
    let j = i % period;
    if (j < 0) j += period;
    return j >= n ? period - j : j;
  };
  for (let i = 0; i < pad; i++) {
    out[i] = samples[reflect(i - pad)];
    out[pad + n + i] = samples[reflect(n + i)];
  }
  return out;
}

function checkFrameParams(nFft: number, hop: number): void {
  if (!Number.isInteger(nFft) || nFft < 2 || (nFft & (nFft - 1)) !== 0) {
    throw new RangeError(`nFft must be a power of two >= 2, got ${nFft}`);
  }
  if (!Number.isInteger(hop) || hop < 1) throw new RangeError(`hop must be a positive integer, got ${hop}`);
}

/**
 * The per-frame computation shared by the offline and the streaming extractor:
 * window → FFT → |X|^power → (mel filterbank → log). One FFT per frame.
 */
export class FrameAnalyser {
  readonly nFft: number;
  readonly nBins: number;
  readonly power: number;
  readonly window: Float64Array;
  private readonly fft: FFT;
  private readonly fin: Float64Array;
  private readonly fout: Float64Array;
  private readonly spec: Float64Array;

  constructor(nFft: number, power = 2) {
    checkFrameParams(nFft, 1);
    if (!(power > 0)) throw new RangeError(`power must be > 0, got ${power}`);
    this.nFft = nFft;
    this.nBins = nFft / 2 + 1;
    this.power = power;
    this.window = hannWindow(nFft, true);
    this.fft = new FFT(nFft);
    this.fin = new Float64Array(nFft);
    this.fout = new Float64Array(2 * nFft);
    this.spec = new Float64Array(this.nBins);
  }

  /**
   * Power spectrum of one frame. The frame is `src[offset .. offset + nFft)` or, for a ring
   * buffer, starts at `offset` and wraps around `src` (whose length is nFft). The result
   * is a view valid until the next call.
   */
  spectrum(src: ArrayLike<number>, offset: number, wrap = false): Float64Array {
    const n = this.nFft;
    const w = this.window;
    const fin = this.fin;
    if (wrap) {
      const first = n - offset;
      for (let i = 0; i < first; i++) fin[i] = src[offset + i] * w[i];
      for (let i = first; i < n; i++) fin[i] = src[i - first] * w[i];
    } else {
      for (let i = 0; i < n; i++) fin[i] = src[offset + i] * w[i];
    }
    this.fft.realTransform(this.fout, fin);
    const out = this.fout;
    const spec = this.spec;
    const half = this.power / 2;
    for (let k = 0; k < this.nBins; k++) {
      const re = out[2 * k];
      const im = out[2 * k + 1];
      const p = re * re + im * im;
      spec[k] = half === 1 ? p : Math.pow(p, half);
    }
    return spec;
  }
}

function logFn(log: LogScaling | undefined, power: number): (v: number) => number {
  const l = log ?? { kind: 'dcase' };
  if (l.kind === 'none') return (v) => v;
  if (l.kind === 'floor') {
    const floor = l.floor ?? 1e-10;
    return (v) => 10 * Math.log10(Math.max(v, floor));
  }
  const eps = l.eps ?? DCASE_LOG_EPS;
  const c = 20 / power;
  return (v) => c * Math.log10(v + eps);
}

/** Mel projection and log of power spectra; shared by offline and streaming paths. */
export class MelProjector {
  readonly bank: MelFilterbank;
  private readonly log: (v: number) => number;
  constructor(opts: MelOptions) {
    const nFft = opts.nFft ?? DEFAULT_N_FFT;
    this.bank = melFilterbank({ ...opts, nFft });
    this.log = logFn(opts.log, opts.power ?? 2);
  }
  project(spec: Float64Array, out: Float32Array, at: number): void {
    const { nMels, nBins, weights, start, end } = this.bank;
    for (let m = 0; m < nMels; m++) {
      let acc = 0;
      const row = m * nBins;
      for (let k = start[m]; k < end[m]; k++) acc += weights[row + k] * spec[k];
      out[at + m] = this.log(acc);
    }
  }
}

function framedSource(samples: ArrayLike<number>, nFft: number, framing: FramingOptions): ArrayLike<number> {
  return (framing.center ?? true) ? padCentre(samples, nFft / 2, framing.padMode ?? 'reflect') : samples;
}

/** |STFT|^power, frames × (n_fft/2 + 1). */
export function powerSpectrogram(samples: ArrayLike<number>, opts: SpectrumOptions & FramingOptions = {}): FrameMatrix {
  const nFft = opts.nFft ?? DEFAULT_N_FFT;
  const hop = opts.hop ?? DEFAULT_HOP;
  checkFrameParams(nFft, hop);
  const an = new FrameAnalyser(nFft, opts.power ?? 2);
  const src = framedSource(samples, nFft, opts);
  const nFrames = frameCount(src.length, nFft, hop, false);
  const data = new Float32Array(nFrames * an.nBins);
  for (let t = 0; t < nFrames; t++) data.set(an.spectrum(src, t * hop), t * an.nBins);
  return { nFrames, dim: an.nBins, data };
}

/** Log-mel spectrogram (log per `opts.log`; `{kind: 'none'}` gives the mel power), frames × n_mels. */
export function logMelSpectrogram(samples: ArrayLike<number>, opts: MelOptions & FramingOptions): FrameMatrix {
  const nFft = opts.nFft ?? DEFAULT_N_FFT;
  const hop = opts.hop ?? DEFAULT_HOP;
  checkFrameParams(nFft, hop);
  const an = new FrameAnalyser(nFft, opts.power ?? 2);
  const proj = new MelProjector(opts);
  const nMels = proj.bank.nMels;
  const src = framedSource(samples, nFft, opts);
  const nFrames = frameCount(src.length, nFft, hop, false);
  const data = new Float32Array(nFrames * nMels);
  for (let t = 0; t < nFrames; t++) proj.project(an.spectrum(src, t * hop), data, t * nMels);
  return { nFrames, dim: nMels, data };
}

/**
 * Stacks `context` consecutive frames into one vector (DCASE baseline): vector v =
 * frames v .. v+context−1 concatenated. T frames give max(0, T − context + 1) vectors of
 * dim·context values.
 */
export function stackContext(m: FrameMatrix, context: number): FrameMatrix {
  if (!Number.isInteger(context) || context < 1) throw new RangeError(`context must be a positive integer, got ${context}`);
  const nVec = Math.max(0, m.nFrames - context + 1);
  const dim = m.dim * context;
  const data = new Float32Array(nVec * dim);
  // Frame-major storage makes each vector a contiguous slice.
  for (let v = 0; v < nVec; v++) data.set(m.data.subarray(v * m.dim, v * m.dim + dim), v * dim);
  return { nFrames: nVec, dim, data };
}

/**
 * Incremental log-mel extraction (non-centred framing). Keeps a ring of the last n_fft
 * samples; every hop samples it runs one FFT on the ring. Output equals
 * logMelSpectrogram(signal, {..., center: false}) for the concatenated input.
 */
export class StreamingLogMel {
  readonly nFft: number;
  readonly hop: number;
  readonly nMels: number;
  private readonly an: FrameAnalyser;
  private readonly proj: MelProjector;
  private readonly ring: Float64Array;
  /** Samples received so far; the next frame is complete when total reaches nextEnd. */
  private total = 0;
  private nextEnd: number;
  private emitted = 0;

  constructor(opts: MelOptions) {
    this.nFft = opts.nFft ?? DEFAULT_N_FFT;
    this.hop = opts.hop ?? DEFAULT_HOP;
    checkFrameParams(this.nFft, this.hop);
    this.an = new FrameAnalyser(this.nFft, opts.power ?? 2);
    this.proj = new MelProjector(opts);
    this.nMels = this.proj.bank.nMels;
    this.ring = new Float64Array(this.nFft);
    this.nextEnd = this.nFft;
  }

  /** Frames produced so far. Frame t covers input samples [t·hop, t·hop + n_fft). */
  get framesEmitted(): number {
    return this.emitted;
  }

  get samplesSeen(): number {
    return this.total;
  }

  reset(): void {
    this.ring.fill(0);
    this.total = 0;
    this.nextEnd = this.nFft;
    this.emitted = 0;
  }

  /** Feeds samples; returns the log-mel frames completed by them (possibly none). */
  push(samples: ArrayLike<number>): FrameMatrix {
    const n = this.nFft;
    const count = this.total + samples.length < this.nextEnd ? 0 : 1 + Math.floor((this.total + samples.length - this.nextEnd) / this.hop);
    const data = new Float32Array(count * this.nMels);
    let produced = 0;
    let i = 0;
    while (i < samples.length) {
      const take = Math.min(samples.length - i, this.nextEnd - this.total);
      // Copy into the ring at position total mod n (at most two segments when take ≤ n;
      // when hop > n only the last n samples of a long run matter, but copying all is fine).
      let pos = this.total % n;
      for (let j = 0; j < take; j++) {
        this.ring[pos] = samples[i + j];
        pos = pos + 1 === n ? 0 : pos + 1;
      }
      i += take;
      this.total += take;
      if (this.total === this.nextEnd) {
        // Oldest sample sits at total mod n.
        const spec = this.an.spectrum(this.ring, this.total % n, true);
        this.proj.project(spec, data, produced * this.nMels);
        produced++;
        this.nextEnd += this.hop;
      }
    }
    this.emitted += produced;
    return { nFrames: produced, dim: this.nMels, data };
  }
}

/** Streaming counterpart of stackContext: keeps the last context−1 frames between pushes. */
export class StreamingContextStacker {
  readonly dim: number;
  private readonly context: number;
  private held: Float32Array;
  private heldFrames = 0;

  constructor(frameDim: number, context: number) {
    if (!Number.isInteger(context) || context < 1) throw new RangeError(`context must be a positive integer, got ${context}`);
    this.context = context;
    this.held = new Float32Array(0);
    this.dim = frameDim;
  }

  push(frames: FrameMatrix): FrameMatrix {
    if (frames.dim !== this.dim) throw new RangeError(`frame dim ${frames.dim} != ${this.dim}`);
    const all = new Float32Array((this.heldFrames + frames.nFrames) * this.dim);
    all.set(this.held.subarray(0, this.heldFrames * this.dim));
    all.set(frames.data.subarray(0, frames.nFrames * this.dim), this.heldFrames * this.dim);
    const m = { nFrames: this.heldFrames + frames.nFrames, dim: this.dim, data: all };
    const out = stackContext(m, this.context);
    const keep = Math.min(m.nFrames, this.context - 1);
    this.held = all.slice((m.nFrames - keep) * this.dim);
    this.heldFrames = keep;
    return out;
  }

  reset(): void {
    this.held = new Float32Array(0);
    this.heldFrames = 0;
  }
}
