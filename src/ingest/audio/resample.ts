/**
 * Band-limited resampling by a rational ratio with a Kaiser-windowed sinc kernel, in
 * polyphase form, usable on a stream of chunks.
 *
 * With outRate/inRate = L/M in lowest terms, output sample n sits at input time
 * t_n = n·M/L (in input samples) and is
 *
 *     y[n] = Σ_i x[i] · h(t_n − i),
 *     h(τ) = fc · sinc(fc·τ) · kaiser(τ / W),   sinc(u) = sin(πu)/(πu),
 *     kaiser(u) = I0(β·√(1 − u²)) / I0(β) for |u| ≤ 1, else 0,
 *
 * where fc = rolloff · min(1, L/M) is the cut-off as a fraction of the input Nyquist
 * frequency (so min(inRate, outRate)/2 · rolloff in Hz) and W = zeroCrossings / fc is the
 * kernel's half-width in input samples. The kernel is zero-phase: output n is aligned with
 * input time t_n, there is no delay to compensate. Samples before the start and after the
 * end of the signal count as zero. The output of N input samples has ceil(N·L/M) samples.
 *
 * t_n's fractional part takes only L values (phase p = n·M mod L), so for L ≤ 4096 the
 * kernel is tabulated once per phase ("polyphase"); larger L evaluate it per output sample
 * (slow, but correct for odd rate pairs).
 *
 * Defaults (zeroCrossings 32, rolloff 0.9, β 8.6): stop-band attenuation about 85 dB, the
 * transition band from about 0.82 to 0.98 of the lower Nyquist frequency (e.g. 6.5–7.9 kHz
 * for 16 kHz output).
 *
 * Equal rates pass samples through unchanged (no filtering).
 *
 * Streaming: `Resampler.push(chunk)` returns every output sample whose kernel support is
 * complete; `flush()` returns the rest (zero-padding the end). Concatenated, they equal
 * `resample(whole)` exactly, whatever the chunking, because each output sample is computed
 * from the same inputs with the same arithmetic.
 */

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side of the centre (kernel half-length). Default 32. */
  zeroCrossings?: number;
  /** Cut-off as a fraction of the lower Nyquist frequency, in (0, 1]. Default 0.9. */
  rolloff?: number;
  /** Kaiser window β. Default 8.6. */
  beta?: number;
}

const MAX_TABLE_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (power series). */
export function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** outRate / inRate = up / down in lowest terms. */
  readonly up: number;
  readonly down: number;
  /** Input samples the kernel reaches ahead of an output's position: the streaming latency. */
  readonly lookahead: number;

  private readonly fc: number;
  private readonly halfWidth: number;
  private readonly beta: number;
  private readonly i0Beta: number;
  /** Taps cover input offsets j = jMin .. jMin + taps - 1 relative to floor(t_n). */
  private readonly jMin: number;
  private readonly taps: number;
  private readonly table: Float64Array | null;
  /** Equal rates: samples pass through unchanged. */
  private readonly identity: boolean;

  /** Pending input; buf[0] is absolute input index bufStart. */
  private buf = new Float64Array(0);
  private bufLen = 0;
  private bufStart = 0;
  /** Absolute input samples received. */
  private received = 0;
  /** Next output: floor(t_n) and phase p = n·M mod L. */
  private k = 0;
  private phase = 0;
  private produced = 0;
  private flushed = false;

  constructor(inRate: number, outRate: number, opts: ResampleOptions = {}) {
    if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate < 1 || outRate < 1) {
      throw new RangeError(`sample rates must be positive integers (got ${inRate} -> ${outRate})`);
    }
    const zeroCrossings = opts.zeroCrossings ?? 32;
    const rolloff = opts.rolloff ?? 0.9;
    this.beta = opts.beta ?? 8.6;
    if (!(zeroCrossings >= 1)) throw new RangeError(`zeroCrossings must be >= 1, got ${zeroCrossings}`);
    if (!(rolloff > 0 && rolloff <= 1)) throw new RangeError(`rolloff must be in (0, 1], got ${rolloff}`);
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    this.identity = inRate === outRate;
    this.fc = rolloff * Math.min(1, this.up / this.down);
    this.halfWidth = zeroCrossings / this.fc;
    this.i0Beta = besselI0(this.beta);
    // τ = p/L − j must satisfy |τ| ≤ W with p/L in [0, 1): j in [−W, W + 1).
    this.jMin = -Math.floor(this.halfWidth);
    const jMax = Math.ceil(this.halfWidth);
    this.taps = jMax - this.jMin + 1;
    this.lookahead = jMax;
    if (this.up <= MAX_TABLE_PHASES) {
      const table = new Float64Array(this.up * this.taps);
      for (let p = 0; p < this.up; p++) this.fillTaps(p / this.up, table, p * this.taps);
      this.table = table;
    } else {
      this.table = null;
    }
    this.reset();
  }

  /** The continuous kernel h(τ), τ in input samples. */
  kernel(tau: number): number {
    const u = tau / this.halfWidth;
    if (u <= -1 || u >= 1) return 0;
    const x = this.fc * tau;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    return this.fc * sinc * (besselI0(this.beta * Math.sqrt(1 - u * u)) / this.i0Beta);
  }

  private fillTaps(frac: number, out: Float64Array, at: number): void {
    for (let t = 0; t < this.taps; t++) out[at + t] = this.kernel(frac - (this.jMin + t));
  }

  reset(): void {
    // Virtual zeros before the signal start, so early outputs need no special case.
    this.buf = new Float64Array(Math.max(1024, 2 * this.taps));
    this.bufLen = -this.jMin;
    this.bufStart = this.jMin;
    this.received = 0;
    this.k = 0;
    this.phase = 0;
    this.produced = 0;
    this.flushed = false;
  }

  /** Feeds input samples; returns the output samples that are now complete. */
  push(samples: ArrayLike<number>): Float32Array {
    if (this.flushed) throw new Error('Resampler.push after flush(); call reset() first');
    if (this.identity) {
      this.received += samples.length;
      return Float32Array.from(samples);
    }
    this.append(samples);
    this.received += samples.length;
    // Output n is complete when its last tap, k + jMin + taps − 1, has arrived.
    return this.produce(this.received - 1 - (this.jMin + this.taps - 1), Infinity);
  }

  /** Ends the stream: returns the remaining outputs, treating later input as zeros. */
  flush(): Float32Array {
    if (this.flushed) return new Float32Array(0);
    this.flushed = true;
    if (this.identity) return new Float32Array(0);
    const total = Math.ceil((this.received * this.up) / this.down);
    const zeros = new Float64Array(this.taps);
    this.append(zeros);
    return this.produce(Infinity, total);
  }

  private append(samples: ArrayLike<number>): void {
    const need = this.bufLen + samples.length;
    if (need > this.buf.length) {
      const grown = new Float64Array(Math.max(need, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    for (let i = 0; i < samples.length; i++) this.buf[this.bufLen + i] = samples[i];
    this.bufLen += samples.length;
  }

  /** Produces outputs while k ≤ maxK and the output count < maxOutputs. */
  private produce(maxK: number, maxOutputs: number): Float32Array {
    const L = this.up;
    const M = this.down;
    const taps = this.taps;
    // Count outputs first so the result is allocated once.
    let count = 0;
    {
      let k = this.k;
      let p = this.phase;
      while (k <= maxK && this.produced + count < maxOutputs) {
        count++;
        p += M;
        k += Math.floor(p / L);
        p %= L;
      }
    }
    const out = new Float32Array(count);
    const buf = this.buf;
    const table = this.table;
    const row = table ? null : new Float64Array(taps);
    for (let o = 0; o < count; o++) {
      const base = this.k + this.jMin - this.bufStart;
      let acc = 0;
      if (table) {
        const off = this.phase * taps;
        for (let t = 0; t < taps; t++) acc += buf[base + t] * table[off + t];
      } else {
        this.fillTaps(this.phase / L, row!, 0);
        for (let t = 0; t < taps; t++) acc += buf[base + t] * row![t];
      }
      out[o] = acc;
      this.phase += M;
      this.k += Math.floor(this.phase / L);
      this.phase %= L;
    }
    this.produced += count;
    // Drop input no longer reachable by any future output (first tap of the next one).
    const keepFrom = this.k + this.jMin - this.bufStart;
    if (keepFrom > 0) {
      const drop = Math.min(keepFrom, this.bufLen);
      this.buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart += drop;
    }
    return out;
  }
}

/** One-shot resampling of a whole signal (same result as streaming through a Resampler). */
export function resample(
  samples: ArrayLike<number>,
  inRate: number,
  outRate: number,
  opts: ResampleOptions = {},
): Float32Array {
  const r = new Resampler(inRate, outRate, opts);
  const a = r.push(samples);
  const b = r.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
