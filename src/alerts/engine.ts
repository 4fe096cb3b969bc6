/**
 * Alert engine: turns per-window score events into alert episodes, per stream.
 *
 * Rules, per stream:
 * - warm-up: the first `warmupWindows` windows of a stream never count and never alert;
 * - firing: at least `n` of the last `m` windows have a calibrated score at or above
 *   their threshold (and no cooldown is running);
 * - resolved: `resolveWindows` consecutive windows below the lower threshold
 *   (hysteresis, see below); windows between the two thresholds reset that count;
 * - cooldown: after a resolve, no new firing for `cooldownWindows` windows and for
 *   `cooldownMs` of the engine clock (both must have passed);
 * - stale: a firing stream that sends nothing for `staleMs` (engine clock) is resolved by
 *   `sweep()` and its state dropped.
 *
 * Scale: scores are calibrated tail probabilities, score = 1 - P(normal >= raw), so the
 * meaningful quantity is the tail probability p = 1 - score and its ratio to the
 * threshold's tail probability pt = 1 - threshold. "k times the threshold" on this scale
 * means "k times rarer": a window with pt / p = 10 is ten times less likely under normal
 * behaviour than a window exactly at the threshold. Hence:
 * - severity `critical` when the episode's peak has pt / p >= `criticalRatio` (default 10),
 *   else `warning`. Severity only escalates within an episode (peak-based); an escalation
 *   is emitted as a new 'firing' event with reason 'escalated';
 * - lower threshold: the score whose tail probability is `resolveRatio` (default 2) times
 *   the threshold's, i.e. 1 - resolveRatio * (1 - threshold). With threshold 0.99 and
 *   ratio 2 a firing alert resolves only after R windows below 0.98.
 *
 * Pure logic: no I/O, no timers; time comes from the injectable clock.
 */
import { createHash } from 'node:crypto';
import type { ScoreEvent } from '../scoring/types.js';
import type { AlertEvent, AlertReason, AlertSeverity, AlertWindowRef } from './types.js';

export interface AlertEngineOptions {
  /** Alert rule name (Alertmanager `alertname`). Default 'NoisefloorAnomaly'. */
  alertname?: string;
  /** Fire when at least n of the last m windows are above threshold. Defaults 3 of 5. */
  n?: number;
  m?: number;
  /** Consecutive windows below the lower threshold needed to resolve. Default 3. */
  resolveWindows?: number;
  /** Lower threshold as a multiple (>= 1) of the threshold's tail probability. Default 2. */
  resolveRatio?: number;
  /** Peak tail-probability ratio pt / p at or above which severity is critical. Default 10. */
  criticalRatio?: number;
  /** Windows after a resolve during which the stream cannot fire. Default 0. */
  cooldownWindows?: number;
  /** Milliseconds (engine clock) after a resolve during which the stream cannot fire. Default 60000. */
  cooldownMs?: number;
  /** Windows at the start of a stream that are ignored. Default 0. */
  warmupWindows?: number;
  /** `sweep()` resolves and forgets streams silent for this long (ms). Default 0: never. */
  staleMs?: number;
}

export type Clock = () => number;

/** What /api/streams shows about a stream's alert state. */
export type StreamAlertPhase = 'warmup' | 'ok' | 'pending' | 'firing' | 'cooldown';

export interface StreamAlertState {
  stream: string;
  phase: StreamAlertPhase;
  /** Windows seen since the stream's state was created. */
  windows: number;
  /** Windows above threshold among the last m. */
  aboveInWindow: number;
  severity?: AlertSeverity;
  /** Epoch ms the current alert started (when firing). */
  since?: number;
  fingerprint: string;
  lastScore?: number;
  lastRaw?: number;
  threshold?: number;
  topChannels: string[];
}

interface Slot {
  above: boolean;
  score: number;
  raw: number;
  threshold: number;
  ref: AlertWindowRef;
  topChannels: string[];
}

interface Episode {
  number: number;
  startsAt: number;
  severity: AlertSeverity;
  firstWindow: AlertWindowRef;
  lastWindow: AlertWindowRef;
  peakScore: number;
  peakRaw: number;
  lastScore: number;
  lastRaw: number;
  threshold: number;
  windowsAbove: number;
  votes: Map<string, number>;
  modelVersion: string;
  belowStreak: number;
}

interface StreamState {
  stream: string;
  fingerprint: string;
  windows: number;
  ring: (Slot | undefined)[];
  head: number;
  aboveCount: number;
  episode: Episode | null;
  episodes: number;
  cooldownUntilMs: number;
  cooldownWindowsLeft: number;
  lastSeenAt: number;
  last?: ScoreEvent;
}

const MIN_TAIL = 1e-12;

/** Tail probability of a calibrated score, floored so ratios stay finite. */
export function tailOf(score: number): number {
  return Math.max(MIN_TAIL, 1 - score);
}

/** How many times rarer than the threshold a score is: (1 - threshold) / (1 - score). */
export function tailRatio(score: number, threshold: number): number {
  return tailOf(threshold) / tailOf(score);
}

/** The hysteresis (lower) threshold for a calibrated threshold and a tail ratio >= 1. */
export function lowerThreshold(threshold: number, resolveRatio: number): number {
  return 1 - Math.min(1, resolveRatio * (1 - threshold));
}

export function alertFingerprint(alertname: string, stream: string): string {
  return createHash('sha256').update(alertname).update('\u0000').update(stream).digest('hex').slice(0, 16);
}

function refOf(ev: ScoreEvent): AlertWindowRef {
  const ref: AlertWindowRef = { start: ev.start, end: ev.end };
  if (ev.startTs !== undefined) ref.startTs = ev.startTs;
  if (ev.endTs !== undefined) ref.endTs = ev.endTs;
  return ref;
}

function vote(votes: Map<string, number>, channels: string[]): void {
  const k = Math.min(3, channels.length);
  for (let i = 0; i < k; i++) votes.set(channels[i], (votes.get(channels[i]) ?? 0) + (3 - i));
}

function topOf(votes: Map<string, number>): string[] {
  return [...votes.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([c]) => c);
}

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`alert engine: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

export class AlertEngine {
  readonly alertname: string;
  readonly n: number;
  readonly m: number;
  readonly resolveWindows: number;
  readonly resolveRatio: number;
  readonly criticalRatio: number;
  readonly cooldownWindows: number;
  readonly cooldownMs: number;
  readonly warmupWindows: number;
  readonly staleMs: number;
  private readonly streams = new Map<string, StreamState>();

  constructor(
    opts: AlertEngineOptions = {},
    private readonly now: Clock = Date.now,
  ) {
    this.alertname = opts.alertname ?? 'NoisefloorAnomaly';
    this.m = positiveInt('m', opts.m ?? 5, 1);
    this.n = positiveInt('n', opts.n ?? 3, 1);
    if (this.n > this.m) throw new RangeError(`alert engine: n (${this.n}) must be <= m (${this.m})`);
    this.resolveWindows = positiveInt('resolveWindows', opts.resolveWindows ?? 3, 1);
    this.cooldownWindows = positiveInt('cooldownWindows', opts.cooldownWindows ?? 0, 0);
    this.warmupWindows = positiveInt('warmupWindows', opts.warmupWindows ?? 0, 0);
    this.resolveRatio = opts.resolveRatio ?? 2;
    this.criticalRatio = opts.criticalRatio ?? 10;
    this.cooldownMs = opts.cooldownMs ?? 60_000;
    this.staleMs = opts.staleMs ?? 0;
    if (!(this.resolveRatio >= 1)) throw new RangeError('alert engine: resolveRatio must be >= 1');
    if (!(this.criticalRatio >= 1)) throw new RangeError('alert engine: criticalRatio must be >= 1');
    if (!(this.cooldownMs >= 0) || !(this.staleMs >= 0)) throw new RangeError('alert engine: cooldownMs and staleMs must be >= 0');
  }

  /** Feed one scored window; returns the alert events it causes (usually none). */
  process(ev: ScoreEvent): AlertEvent[] {
    const out: AlertEvent[] = [];
    this.step(ev, out);
    return out;
  }

  /** Feed a batch of scored windows in order. */
  processBatch(events: Iterable<ScoreEvent>): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const ev of events) this.step(ev, out);
    return out;
  }

  /** Snapshots of the alerts currently firing (for periodic re-sends). */
  firing(): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const st of this.streams.values()) if (st.episode) out.push(this.eventOf(st, st.episode, 'firing', 'n_of_m'));
    return out;
  }

  /** Alert state of one stream, or undefined when the engine has not seen it. */
  state(stream: string): StreamAlertState | undefined {
    const st = this.streams.get(stream);
    if (!st) return undefined;
    const ep = st.episode;
    const s: StreamAlertState = {
      stream,
      phase: this.phaseOf(st),
      windows: st.windows,
      aboveInWindow: st.aboveCount,
      fingerprint: st.fingerprint,
      topChannels: ep ? topOf(ep.votes) : (st.last?.topChannels ?? []),
    };
    if (ep) {
      s.severity = ep.severity;
      s.since = ep.startsAt;
    }
    if (st.last) {
      s.lastScore = st.last.score;
      s.lastRaw = st.last.raw;
      s.threshold = st.last.threshold;
    }
    return s;
  }

  /** Streams the engine holds state for. */
  streamNames(): string[] {
    return [...this.streams.keys()];
  }

  /**
   * Resolve alerts of streams silent for longer than `staleMs` and forget those streams
   * (they warm up again when they come back). Call it periodically; no-op when staleMs is 0.
   */
  sweep(): AlertEvent[] {
    const out: AlertEvent[] = [];
    if (this.staleMs <= 0) return out;
    const now = this.now();
    for (const st of [...this.streams.values()]) {
      if (now - st.lastSeenAt <= this.staleMs) continue;
      if (st.episode) out.push(this.resolve(st, st.episode, 'stale'));
      this.streams.delete(st.stream);
    }
    return out;
  }

  /**
   * Drop a stream's state (partition revoked on rebalance): it warms up again when it comes
   * back. Returns a 'resolved' event (reason 'reset') when it was firing and `resolve` is true.
   */
  reset(stream: string, resolve = true): AlertEvent[] {
    const st = this.streams.get(stream);
    if (!st) return [];
    this.streams.delete(stream);
    return st.episode && resolve ? [this.resolve(st, st.episode, 'reset')] : [];
  }

  private phaseOf(st: StreamState): StreamAlertPhase {
    if (st.episode) return 'firing';
    if (st.windows <= this.warmupWindows) return 'warmup';
    if (this.inCooldown(st)) return 'cooldown';
    return st.aboveCount > 0 ? 'pending' : 'ok';
  }

  private inCooldown(st: StreamState): boolean {
    return st.cooldownWindowsLeft > 0 || this.now() < st.cooldownUntilMs;
  }

  private stateOf(stream: string): StreamState {
    let st = this.streams.get(stream);
    if (!st) {
      st = {
        stream,
        fingerprint: alertFingerprint(this.alertname, stream),
        windows: 0,
        ring: new Array<Slot | undefined>(this.m).fill(undefined),
        head: 0,
        aboveCount: 0,
        episode: null,
        episodes: 0,
        cooldownUntilMs: -Infinity,
        cooldownWindowsLeft: 0,
        lastSeenAt: this.now(),
      };
      this.streams.set(stream, st);
    }
    return st;
  }

  private severityOf(score: number, threshold: number): AlertSeverity {
    return tailRatio(score, threshold) >= this.criticalRatio ? 'critical' : 'warning';
  }

  private step(ev: ScoreEvent, out: AlertEvent[]): void {
    const st = this.stateOf(ev.stream);
    st.windows++;
    st.lastSeenAt = this.now();
    st.last = ev;
    if (st.windows <= this.warmupWindows) return;

    const above = Number.isFinite(ev.score) && ev.score >= ev.threshold;
    const prev = st.ring[st.head];
    if (prev?.above) st.aboveCount--;
    st.ring[st.head] = { above, score: ev.score, raw: ev.raw, threshold: ev.threshold, ref: refOf(ev), topChannels: ev.topChannels };
    st.head = (st.head + 1) % this.m;
    if (above) st.aboveCount++;
    if (st.cooldownWindowsLeft > 0) st.cooldownWindowsLeft--;

    const ep = st.episode;
    if (ep) {
      ep.lastWindow = refOf(ev);
      ep.lastScore = ev.score;
      ep.lastRaw = ev.raw;
      ep.threshold = ev.threshold;
      ep.modelVersion = ev.modelVersion;
      if (above) {
        ep.windowsAbove++;
        vote(ep.votes, ev.topChannels);
        if (ev.score > ep.peakScore) {
          ep.peakScore = ev.score;
          ep.peakRaw = ev.raw;
        }
        const sev = this.severityOf(ev.score, ev.threshold);
        if (sev === 'critical' && ep.severity !== 'critical') {
          ep.severity = sev;
          out.push(this.eventOf(st, ep, 'firing', 'escalated'));
        }
      }
      const below = !(ev.score >= lowerThreshold(ev.threshold, this.resolveRatio));
      ep.belowStreak = below ? ep.belowStreak + 1 : 0;
      if (ep.belowStreak >= this.resolveWindows) out.push(this.resolve(st, ep, 'recovered'));
      return;
    }

    if (st.aboveCount >= this.n && !this.inCooldown(st)) out.push(this.fire(st, ev));
  }

  private fire(st: StreamState, ev: ScoreEvent): AlertEvent {
    // Walk the ring oldest first to find the episode's first above window, peak and votes.
    const votes = new Map<string, number>();
    let first: AlertWindowRef | undefined;
    let peak = -Infinity;
    let peakRaw = NaN;
    let peakSeverity: AlertSeverity = 'warning';
    for (let i = 0; i < this.m; i++) {
      const slot = st.ring[(st.head + i) % this.m];
      if (!slot?.above) continue;
      first ??= slot.ref;
      vote(votes, slot.topChannels);
      if (slot.score > peak) {
        peak = slot.score;
        peakRaw = slot.raw;
      }
      if (this.severityOf(slot.score, slot.threshold) === 'critical') peakSeverity = 'critical';
    }
    st.episodes++;
    const ep: Episode = {
      number: st.episodes,
      startsAt: this.now(),
      severity: peakSeverity,
      firstWindow: first ?? refOf(ev),
      lastWindow: refOf(ev),
      peakScore: peak,
      peakRaw,
      lastScore: ev.score,
      lastRaw: ev.raw,
      threshold: ev.threshold,
      windowsAbove: st.aboveCount,
      votes,
      modelVersion: ev.modelVersion,
      belowStreak: 0,
    };
    st.episode = ep;
    return this.eventOf(st, ep, 'firing', 'n_of_m');
  }

  private resolve(st: StreamState, ep: Episode, reason: AlertReason): AlertEvent {
    const now = this.now();
    st.episode = null;
    st.cooldownUntilMs = now + this.cooldownMs;
    st.cooldownWindowsLeft = this.cooldownWindows;
    // A new episode needs fresh evidence: forget the windows of this one.
    st.ring.fill(undefined);
    st.aboveCount = 0;
    const e = this.eventOf(st, ep, 'resolved', reason);
    e.endsAt = now;
    return e;
  }

  private eventOf(st: StreamState, ep: Episode, status: AlertEvent['status'], reason: AlertReason): AlertEvent {
    return {
      status,
      alertname: this.alertname,
      fingerprint: st.fingerprint,
      episode: ep.number,
      reason,
      stream: st.stream,
      severity: ep.severity,
      modelVersion: ep.modelVersion,
      topChannels: topOf(ep.votes),
      firstWindow: { ...ep.firstWindow },
      lastWindow: { ...ep.lastWindow },
      peakScore: ep.peakScore,
      peakRaw: ep.peakRaw,
      lastScore: ep.lastScore,
      lastRaw: ep.lastRaw,
      threshold: ep.threshold,
      windowsAbove: ep.windowsAbove,
      startsAt: ep.startsAt,
    };
  }
}
