/**
 * How many queued windows the next ORT batch takes, and when, given a latency target.
 *
 * The cost of serving a batch of n windows (scoring plus handing the events to the
 * outputs) is modelled as `perBatch + perWindow * n`, fitted online by exponentially
 * weighted least squares over the last batches (the machine's load changes, so old
 * batches are forgotten). With that model and the age of the oldest queued window:
 *
 *  - the whole queue (up to maxBatch) can be served within the oldest window's target:
 *    wait for more windows (bigger batches cost less per window) as long as the oldest
 *    one still makes its target and has waited less than maxWaitMs, then take them all;
 *  - it cannot, but a part can: take the largest part that makes it (the oldest windows
 *    first), so a burst does not make every window of it late, but never a part smaller
 *    than what serves a window within the target behind a batch of the same size;
 *  - not even one window can (the oldest is already late: the scorer is not keeping up):
 *    take maxBatch, the cheapest size per window, to drain the queue as fast as possible.
 *
 * Decisions are pure functions of the clock value passed in, so they are tested with a
 * simulated clock and scorer. Without a target (0), or before a few batches were measured,
 * the fixed rule applies: maxBatch windows, or whatever waited maxWaitMs.
 */

export interface BatchControllerOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Queue entry to outputs, per window; 0 = no target (fixed maxBatch / maxWaitMs). */
  latencyTargetMs: number;
}

/**
 * Why a batch was taken: `full` maxBatch windows fit the target (or no target), `wait`
 * the oldest waited maxWaitMs, `deadline` waiting longer (or taking more) would make the
 * oldest miss the target, `backlog` the oldest is late anyway (throughput first), `drain`
 * shutting down.
 */
export type BatchReason = 'full' | 'wait' | 'deadline' | 'backlog' | 'drain';
export const BATCH_REASONS: readonly BatchReason[] = ['full', 'wait', 'deadline', 'backlog', 'drain'];

export type BatchDecision = { take: number; reason: BatchReason; wakeAt?: undefined } | { take: 0; reason?: undefined; wakeAt: number };

/** Batches measured before the model replaces the fixed rule. */
const MIN_OBSERVATIONS = 3;
/** Weight kept by the older batches at each new one (~10 batches of memory). */
const FORGET = 0.9;
/** Predicted costs are stretched by this much before planning against the target (variance, GC, timers firing late). */
const SAFETY = 1.25;

/** Service time of a batch as perBatchMs + perWindowMs * n, fitted online. */
export class BatchCostModel {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private t0 = 0;
  private t1 = 0;
  private count = 0;
  /** Fitted terms; when the recent batches all had (about) one size, a single-size fallback instead. */
  perBatchMs = 0;
  perWindowMs = 0;
  private singleSize: { n: number; ms: number } | null = null;

  get observations(): number {
    return this.count;
  }

  observe(windows: number, ms: number): void {
    if (!(windows >= 1) || !(ms >= 0) || !Number.isFinite(ms)) return;
    const f = FORGET;
    this.s0 = this.s0 * f + 1;
    this.s1 = this.s1 * f + windows;
    this.s2 = this.s2 * f + windows * windows;
    this.t0 = this.t0 * f + ms;
    this.t1 = this.t1 * f + windows * ms;
    this.count++;
    this.refit();
  }

  private refit(): void {
    const { s0, s1, s2, t0, t1 } = this;
    const meanN = s1 / s0;
    const varN = s2 / s0 - meanN * meanN;
    // Sizes that barely varied cannot separate the per-batch from the per-window cost.
    if (varN < 0.25) {
      this.singleSize = { n: meanN, ms: t0 / s0 };
      this.perBatchMs = 0;
      this.perWindowMs = t0 / s1;
      return;
    }
    this.singleSize = null;
    let b = (s0 * t1 - s1 * t0) / (s0 * s2 - s1 * s1);
    let a = (t0 - b * s1) / s0;
    if (b < 0) {
      b = 0;
      a = t0 / s0;
    } else if (a < 0) {
      a = 0;
      b = t1 / s2;
    }
    this.perBatchMs = a;
    this.perWindowMs = b;
  }

  /**
   * Predicted service time of n windows. With one size seen so far it is pessimistic on
   * both sides: smaller batches as dear as the one seen, larger ones proportionally dearer.
   */
  predict(n: number): number {
    const one = this.singleSize;
    if (one) return one.ms * Math.max(1, n / one.n);
    return this.perBatchMs + this.perWindowMs * n;
  }

  /** Largest n in [0, cap] with predict(n) <= budgetMs. */
  largestWithin(budgetMs: number, cap: number): number {
    if (!(budgetMs >= 0)) return 0;
    const one = this.singleSize;
    let n: number;
    if (one) n = budgetMs < one.ms ? 0 : Math.floor((budgetMs / one.ms) * one.n);
    else if (this.perWindowMs <= 0) n = budgetMs >= this.perBatchMs ? cap : 0;
    else n = Math.floor((budgetMs - this.perBatchMs) / this.perWindowMs + 1e-9);
    return Math.max(0, Math.min(cap, n));
  }
}

export class BatchController {
  readonly cost = new BatchCostModel();

  constructor(readonly opts: BatchControllerOptions) {
    if (!(opts.maxBatch >= 1)) throw new RangeError('batch controller: maxBatch must be >= 1');
    if (!(opts.maxWaitMs >= 0) || !(opts.latencyTargetMs >= 0)) throw new RangeError('batch controller: maxWaitMs and latencyTargetMs must be >= 0');
  }

  /** The model is in charge (a target is set and enough batches were measured). */
  get adaptive(): boolean {
    return this.opts.latencyTargetMs > 0 && this.cost.observations >= MIN_OBSERVATIONS;
  }

  /** A batch of `windows` was served in `ms` (scoring and outputs). */
  observe(windows: number, ms: number): void {
    this.cost.observe(windows, ms);
  }

  /**
   * What to do now with `queued` windows whose oldest entered the queue at `oldestAt`:
   * take n of them (oldest first), or wait until `wakeAt` (Infinity: until a window comes).
   * A caller that receives windows while waiting asks again.
   */
  decide(now: number, queued: number, oldestAt: number, closed: boolean): BatchDecision {
    if (queued <= 0) return { take: 0, wakeAt: Infinity };
    const { maxBatch, maxWaitMs, latencyTargetMs } = this.opts;
    const cap = Math.min(queued, maxBatch);
    if (closed) return { take: cap, reason: 'drain' };
    const age = now - oldestAt;
    if (!this.adaptive) {
      if (queued >= maxBatch) return { take: maxBatch, reason: 'full' };
      if (age >= maxWaitMs) return { take: cap, reason: 'wait' };
      return { take: 0, wakeAt: oldestAt + maxWaitMs };
    }
    const budget = latencyTargetMs - age;
    const need = this.cost.predict(cap) * SAFETY;
    if (need <= budget) {
      if (queued >= maxBatch) return { take: maxBatch, reason: 'full' };
      if (age >= maxWaitMs) return { take: cap, reason: 'wait' };
      // Latest start that still serves the whole queue in time; more windows move it earlier.
      const startBy = oldestAt + latencyTargetMs - need;
      if (startBy <= now) return { take: cap, reason: 'deadline' };
      return { take: 0, wakeAt: Math.min(oldestAt + maxWaitMs, startBy) };
    }
    if (budget > 0) {
      // Never below what serves a window within the target when it arrives just behind a
      // running batch of the same size: smaller parts would cut a backlog into batches too
      // small to drain it (each pays the per-batch cost), and every later window would be late.
      const floor = this.cost.largestWithin(latencyTargetMs / 2 / SAFETY, cap);
      const n = Math.max(this.cost.largestWithin(budget / SAFETY, cap), floor);
      if (n >= 1) return { take: n, reason: 'deadline' };
    }
    return { take: cap, reason: 'backlog' };
  }
}
