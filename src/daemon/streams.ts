/**
 * Stream registry and commit-offset tracker (pure logic: no Kafka client, no timers).
 *
 * State lives per partition (a "lane": one Kafka topic-partition, one replayed file, the
 * generator). A lane holds the streams whose messages arrived on it, each a
 * `StreamWindower` (ring buffer: a message's values are written once into the ring; a
 * window is copied out only when due) behind an event-time reorder buffer
 * (ingest/reorder.ts), plus a parallel ring of the Kafka offset and frame-in-message of
 * each step. The same stream id on two partitions is two streams.
 *
 * ## Which offset may be committed (at-least-once)
 *
 * Kafka commits "the next offset to read": committing c promises that every message below
 * c is done. A message is done when each of its steps was dropped (late, duplicate) or
 * released from the reorder buffer, and every window containing one of them has been
 * scored and handed to the sinks.
 *
 * Per stream, released steps are numbered i = 0, 1, ... in event-time order (arrival order
 * for steps without a timestamp); windows cover steps [jH, jH + W) for j = 0, 1, ... . The
 * oldest step the stream still needs (its "needed step" n) is
 *  - the first step of its oldest in-flight window (windows of one stream complete in
 *    order: one FIFO queue, one scorer), else
 *  - the first step of its next, not-yet-cut window: jH with j the first window not yet cut
 *    (in the ring, or not yet seen when H > W).
 * The stream's low-water offset is the smallest offset among its steps n, n+1, ... and the
 * steps held in its reorder buffer (a sliding minimum, so reordered input is covered). The
 * lane's commit offset is min(low-water offsets of its streams, dead-letter sends in
 * flight, last offset read + 1).
 *
 * ## Stream state: resuming on the window grid (the changelog)
 *
 * Re-reading from the commit offset c would restart every stream at its first step at or
 * after c and shift its window grid. So each stream's `StreamState` (kafka-source.ts writes
 * it to a compacted changelog topic before committing the offsets it covers) says where it
 * continues: skip the steps already released (event-time mode: order key <= (t, f); offset
 * mode, for steps without timestamps: messages below o), then skip k more released steps
 * (the H > W gap, or the rest of an idle-expired stream's hop), then number the next
 * released step i. Replaying a partition from c then releases exactly the steps of the
 * first run (the reorder decisions only depend on keys; every step the first run released
 * at or after n lies at an offset >= c, every record below c has a key below (t, f)), so
 * window (stream, start) always names the same data.
 *
 * Idle expiry frees a stream's ring but parks its state: when the stream comes back it
 * continues at the next grid start after its last step (windows that would span the idle
 * gap are not cut; no start index is ever reused). Parked states older than
 * `stateRetentionMs` are deleted (tombstones); such a stream starts again at index 0.
 *
 * ## Sampled signals (audio)
 *
 * With a model of a sampled-signal kind the registry holds that kind's slots instead
 * (src/features: `AudioSlot` in src/features/audio/slot.ts): PCM samples in, log-mel windows out, the same rule with samples for steps (a window's first frame maps
 * back to the input sample, and that to its message offset), offset-mode state at equal
 * sample rates (k counts samples, i is a frame index).
 */
import type { Window } from '../ingest/types.js';
import { StreamWindower, type WindowSpec } from '../ingest/windower.js';
import { EventTimeOrder, type OrderKey, type OrderPolicy } from '../ingest/reorder.js';
import type { SampledStreaming } from '../features/featurizer.js';
import type { ResumePoint, SampleSlot, Slot, SlotLane, StreamState } from '../features/slot.js';

export type { ResumePoint, Slot, StreamState } from '../features/slot.js';

export const STATE_VERSION = 2;

export function encodeState(s: StreamState): string {
  const t = s.t === undefined ? '' : `,"t":${s.t},"f":${s.f ?? 0}`;
  return `{"v":${STATE_VERSION},"i":${s.i},"o":${s.o},"k":${s.k}${t},"r":${s.r},"a":${s.a}}`;
}

/** A changelog value back to a state; null for garbage or a foreign version. */
export function decodeState(text: string | null | undefined): StreamState | null {
  if (!text) return null;
  try {
    const d = JSON.parse(text) as Record<string, unknown>;
    if (d.v !== STATE_VERSION) return null;
    const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= -1;
    if (!int(d.i) || !int(d.o) || !int(d.k) || !int(d.r) || !Number.isFinite(d.a)) return null;
    const s: StreamState = { i: d.i as number, o: d.o as number, k: d.k as number, r: d.r as number, a: d.a as number };
    if (d.t !== undefined) {
      if (typeof d.t !== 'number' || !Number.isFinite(d.t) || !int(d.f)) return null;
      s.t = d.t;
      s.f = d.f as number;
    }
    return s;
  } catch {
    return null;
  }
}

/** The part of a state that says where the stream continues (what must be written when it moves). */
function positionOf(s: StreamState): string {
  return `${s.i},${s.o},${s.k},${s.t ?? ''},${s.f ?? ''}`;
}

interface InFlight {
  /** Local index of the window's first step. */
  local: number;
  /** Offset and frame of that step (offset mode). */
  offset: number;
  frame: number;
  /** Order key of the step before it (null: none, or no timestamp). */
  prev: OrderKey | null;
}

/** A step waiting in the reorder buffer. */
interface HeldStep {
  offset: number;
  frame: number;
  values: Float64Array;
  ts: number | string | undefined;
  key: OrderKey | null;
}

export class StreamSlot implements Slot {
  readonly kind = 'steps';
  /** Step streams always resume exactly (see the module comment). */
  readonly resumable = true;
  readonly windower: StreamWindower;
  private readonly offRing: Float64Array;
  private readonly frameRing: Uint32Array;
  /** Order keys of the ring's steps (NaN: no timestamp). */
  private readonly keyT: Float64Array;
  private readonly keyF: Uint32Array;
  /** Index of local step 0 (non-zero after a resume). */
  readonly base: number;
  lastOffset = -1;
  lastSeen: number;
  /** Released steps still to skip after a resume (StreamState.k). */
  skipSteps = 0;
  /** Offset mode after a resume: messages below this were read before. */
  skipBelow = -1;
  /** Replayed input: offsets up to this were read before the restart (not late, just seen). */
  replayedTo = -1;
  readonly order: EventTimeOrder<HeldStep>;
  /** Key of the step before local step 0 (the restored floor, then the last step skipped after it). */
  private startKey: OrderKey | null;
  private readonly inflight: InFlight[] = [];
  private inflightHead = 0;
  /** Sliding minimum of the offsets of local steps >= the needed step: [local, offset] pairs, offsets increasing. */
  private minQ: number[] = [];
  private minHead = 0;
  alive = true;

  constructor(
    readonly lane: Lane,
    readonly stream: string,
    private readonly spec: WindowSpec,
    policy: OrderPolicy,
    now: number,
    from?: StreamState,
  ) {
    this.windower = new StreamWindower(stream, spec);
    this.offRing = new Float64Array(spec.length);
    this.frameRing = new Uint32Array(spec.length);
    this.keyT = new Float64Array(spec.length);
    this.keyF = new Uint32Array(spec.length);
    this.base = from?.i ?? 0;
    this.lastSeen = now;
    this.startKey = from?.t !== undefined ? { t: from.t, sub: from.f ?? 0 } : null;
    this.order = new EventTimeOrder<HeldStep>(policy, this.startKey);
    if (from) {
      this.skipSteps = from.k;
      if (from.t === undefined) this.skipBelow = from.o;
      this.replayedTo = from.r;
    }
  }

  get count(): number {
    return this.windower.seen;
  }

  get inflightCount(): number {
    return this.inflight.length - this.inflightHead;
  }

  /** A released step was skipped (StreamState.k): local step 0 comes after it. */
  skipped(key: OrderKey | null): void {
    this.skipSteps--;
    if (key) this.startKey = key;
  }

  /** Adds one released step; returns the window it completes, if any. */
  push(offset: number, frame: number, values: Float64Array, ts: number | string | undefined, key: OrderKey | null): Window | null {
    const W = this.spec.length;
    const local = this.count;
    const slot = local % W;
    // The step leaving the ring (local - W) is the one before the window this step may complete.
    const prev: OrderKey | null = local >= W ? (Number.isNaN(this.keyT[slot]) ? null : { t: this.keyT[slot], sub: this.keyF[slot] }) : local === W - 1 ? this.startKey : null;
    this.offRing[slot] = offset;
    this.frameRing[slot] = frame;
    this.keyT[slot] = key ? key.t : Number.NaN;
    this.keyF[slot] = key ? key.sub : 0;
    const q = this.minQ;
    while (q.length > this.minHead && q[q.length - 1] >= offset) q.length -= 2;
    q.push(local, offset);
    const w = this.windower.push({ index: this.base + local, values, ts });
    if (w) {
      const first = local + 1 - W;
      const s = first % W;
      this.inflight.push({ local: first, offset: this.offRing[s], frame: this.frameRing[s], prev });
    }
    return w;
  }

  /** The oldest in-flight window of this stream was scored and handed on. */
  completeOldest(): void {
    if (this.inflightHead >= this.inflight.length) throw new Error(`stream ${this.stream}: no window in flight`);
    this.inflightHead++;
    if (this.inflightHead > 64 && this.inflightHead * 2 > this.inflight.length) {
      this.inflight.splice(0, this.inflightHead);
      this.inflightHead = 0;
    }
  }

  private keyAt(local: number): OrderKey | null {
    if (local < 0) return this.startKey;
    const s = local % this.spec.length;
    return Number.isNaN(this.keyT[s]) ? null : { t: this.keyT[s], sub: this.keyF[s] };
  }

  /** Local index of the needed step (see the module comment). */
  private needed(): number {
    if (this.inflightCount > 0) return this.inflight[this.inflightHead].local;
    const { length: W, hop: H } = this.spec;
    const count = this.count;
    return count < W ? 0 : (Math.floor((count - W) / H) + 1) * H;
  }

  /** Smallest offset this stream still needs; Infinity when none. */
  lowWater(): number {
    const n = this.needed();
    const q = this.minQ;
    while (this.minHead < q.length && q[this.minHead] < n) this.minHead += 2;
    if (this.minHead > 128 && this.minHead * 2 > q.length) {
      this.minQ = q.slice(this.minHead);
      this.minHead = 0;
    }
    let low = this.minHead < this.minQ.length ? this.minQ[this.minHead + 1] : Number.POSITIVE_INFINITY;
    for (const h of this.order.items()) if (h.offset < low) low = h.offset;
    return low;
  }

  /** This stream's state now (what a restart continues from). */
  state(): StreamState {
    const n = this.needed();
    const count = this.count;
    const low = this.lowWater();
    const o = Number.isFinite(low) ? low : this.lastOffset + 1;
    const base = { r: this.lastOffset, a: Math.round(this.lastSeen) };
    let prev: OrderKey | null;
    let k = 0;
    if (this.inflightCount > 0) prev = n === 0 ? this.startKey : this.inflight[this.inflightHead].prev;
    else if (n < count) prev = this.keyAt(n - 1);
    else {
      // The next window starts at a step not released yet: skip the gap after a restart.
      prev = this.keyAt(count - 1);
      k = n - count + this.skipSteps;
    }
    if (prev) return { i: this.base + n, o, k, t: prev.t, f: prev.sub, ...base };
    // Offset mode: the needed step's own (offset, frame), or the next message for the gap.
    if (this.inflightCount > 0) {
      const f = this.inflight[this.inflightHead];
      return { i: this.base + n, o: f.offset, k: f.frame, ...base };
    }
    if (n < count) {
      const s = n % this.spec.length;
      return { i: this.base + n, o: this.offRing[s], k: this.frameRing[s], ...base };
    }
    return { i: this.base + n, o: Math.min(o, this.lastOffset + 1), k, ...base };
  }

  jumpState(): StreamState {
    return this.parkedState();
  }

  /** The state of this stream once it expired idle: continue at the next grid start, parked. */
  parkedState(): StreamState {
    const H = this.spec.hop;
    const count = this.count;
    const next = Math.ceil(count / H) * H;
    const last = this.keyAt(count - 1);
    const s: StreamState = { i: this.base + next, o: this.lastOffset + 1, k: next - count + (count === 0 ? this.skipSteps : 0), r: this.lastOffset, a: Math.round(this.lastSeen) };
    if (last) {
      s.t = last.t;
      s.f = last.sub;
    }
    return s;
  }

  commitPoint(): { offset: number; state: StreamState } {
    return { offset: this.lowWater(), state: this.state() };
  }

  /** For resumePoint-style callers (offset mode). */
  resumePoint(): ResumePoint {
    const s = this.state();
    return { o: s.o, k: s.k, i: s.i };
  }
}

/** A changelog record to write: a stream's new state, or null to delete it. */
export interface StateChange {
  stream: string;
  value: string | null;
}

export interface LaneCommit {
  /** Next offset to read: every message below it is done. */
  offset: number;
  /** Stream states that differ from what was last written (must be written before the offset is committed). */
  changes: StateChange[];
}

interface Parked {
  state: StreamState;
  /** Wall clock when parked or restored (retention). */
  since: number;
}

/** One partition's (or one file's) streams and progress. */
export class Lane implements SlotLane {
  readonly streams = new Map<string, Slot>();
  /** States restored from the changelog or parked by idle expiry, waiting for their stream's next message. */
  readonly resume = new Map<string, Parked>();
  /**
   * The grid position the changelog holds per stream, as far as this lane knows. Only a
   * moved position is written again (`r` and `a` ride along), so a stream costs one record
   * per hop, not one per message.
   */
  private readonly written = new Map<string, string>();
  /** Streams whose state must be deleted (retention). */
  private readonly tombstones = new Set<string>();
  /** Offsets of dead-letter sends in flight (offset -> count). */
  private readonly pendingOffsets = new Map<number, number>();
  lastOffset = -1;
  alive = true;
  /** Steps skipped on resume (already released before a restart). */
  skipped = 0;

  constructor(
    readonly key: string,
    readonly generation: number,
  ) {}

  /** Holds back commits at `offset` until `release(offset)` (e.g. a dead-letter send). */
  hold(offset: number): void {
    this.pendingOffsets.set(offset, (this.pendingOffsets.get(offset) ?? 0) + 1);
  }

  release(offset: number): void {
    const n = this.pendingOffsets.get(offset) ?? 0;
    if (n <= 1) this.pendingOffsets.delete(offset);
    else this.pendingOffsets.set(offset, n - 1);
  }

  /** A message was read (whatever became of it): the position advances. */
  advance(offset: number): void {
    if (offset > this.lastOffset) this.lastOffset = offset;
  }

  /** Restored state: the changelog already holds it. */
  restored(stream: string, state: StreamState, encoded: string | null, now: number): void {
    this.resume.set(stream, { state, since: now });
    if (encoded !== null) this.written.set(stream, positionOf(state));
  }

  park(stream: string, state: StreamState, now: number): void {
    this.resume.set(stream, { state, since: now });
  }

  /** Deletes parked states older than `retentionMs` (their changelog records become tombstones). */
  expireParked(now: number, retentionMs: number): number {
    if (retentionMs <= 0) return 0;
    let n = 0;
    for (const [name, p] of this.resume) {
      if (now - Math.max(p.since, p.state.a) < retentionMs) continue;
      this.resume.delete(name);
      if (this.written.has(name)) this.tombstones.add(name);
      n++;
    }
    return n;
  }

  /** The commit point and the state changes it depends on, or null before the first message. */
  commit(): LaneCommit | null {
    if (this.lastOffset < 0 && this.tombstones.size === 0) return null;
    let min = this.lastOffset + 1;
    for (const off of this.pendingOffsets.keys()) if (off < min) min = off;
    const changes: StateChange[] = [];
    const note = (stream: string, s: StreamState) => {
      if (this.written.get(stream) !== positionOf(s)) changes.push({ stream, value: encodeState(s) });
    };
    for (const s of this.streams.values()) {
      const p = s.commitPoint();
      if (p.offset < min) min = p.offset;
      if (p.state) note(s.stream, p.state);
    }
    for (const [name, p] of this.resume) note(name, p.state);
    for (const name of this.tombstones) changes.push({ stream: name, value: null });
    return { offset: Math.max(0, min), changes };
  }

  /** The changes were written (acknowledged by the changelog). */
  markWritten(changes: readonly StateChange[]): void {
    for (const c of changes) {
      if (c.value === null) {
        this.written.delete(c.stream);
        this.tombstones.delete(c.stream);
      } else {
        const s = decodeState(c.value);
        if (s) this.written.set(c.stream, positionOf(s));
      }
    }
  }
}

const RESUME_VERSION = 1;

/**
 * Resume points of the old commit-metadata format ({"v":1,"s":{"stream":[o,k,i],...}}),
 * read once when a partition has no changelog state yet (migration); never written.
 */
export function decodeResume(metadata: string | null | undefined): Map<string, ResumePoint> {
  const out = new Map<string, ResumePoint>();
  if (!metadata) return out;
  try {
    const doc = JSON.parse(metadata) as { v?: unknown; s?: Record<string, unknown> };
    if (doc.v !== RESUME_VERSION || !doc.s || typeof doc.s !== 'object') return out;
    for (const [name, v] of Object.entries(doc.s)) {
      if (Array.isArray(v) && v.length === 3 && v.every((x) => Number.isSafeInteger(x) && x >= 0)) out.set(name, { o: v[0], k: v[1], i: v[2] });
    }
  } catch {
    /* foreign or corrupt metadata: no resume points */
  }
  return out;
}

/** An old-format resume point as an (offset mode) state. */
export function stateFromResume(p: ResumePoint, now: number): StreamState {
  return { i: p.i, o: p.o, k: p.k, r: p.o - 1, a: now };
}

/** A window with the stream slot that cut it, so its completion can be reported. */
export interface TrackedWindow {
  window: Window;
  slot: Slot;
}

export type IngestResult =
  /** `late`, `duplicate`: steps of the message dropped by the event-time order policy. */
  | { kind: 'ok'; windows: TrackedWindow[]; late: number; duplicate: number }
  /** maxStreams reached: the message's stream is new and was not admitted. */
  | { kind: 'dropped' };

export interface RegistryOptions {
  maxStreams: number;
  /** 0: never expire. */
  idleTimeoutMs: number;
  /** Event-time reorder buffer (ingest/reorder.ts); default: no lateness allowed. */
  allowedLatenessMs?: number;
  reorderBufferSteps?: number;
  /** Parked states (idle or restored streams) older than this are deleted; 0: kept. */
  stateRetentionMs?: number;
}

export interface SweepResult {
  expired: { key: string; stream: string }[];
  /** Windows cut by releasing the reorder buffers of streams that went quiet. */
  windows: TrackedWindow[];
  /** Parked states deleted (retention). */
  forgotten: number;
}

export class StreamRegistry {
  private readonly lanes = new Map<string, Lane>();
  private total = 0;
  private generation = 0;
  readonly policy: OrderPolicy;
  dropped = 0;
  expired = 0;

  /**
   * `sampled`: the model is of a sampled-signal kind (audio, ...; src/features): the
   * registry feeds PCM samples to that kind's slots (`ingestSamples`) instead of cutting
   * windows of steps (`ingest`); `spec` is then the model's window shape, for information.
   */
  constructor(
    readonly spec: WindowSpec,
    readonly opts: RegistryOptions,
    readonly sampled?: SampledStreaming,
  ) {
    this.policy = { allowedLatenessMs: opts.allowedLatenessMs ?? 0, maxBuffered: opts.reorderBufferSteps ?? 1024 };
  }

  get streamCount(): number {
    return this.total;
  }

  lane(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = new Lane(key, this.generation);
      this.lanes.set(key, lane);
    }
    return lane;
  }

  hasLane(key: string): boolean {
    return this.lanes.has(key);
  }

  laneKeys(): string[] {
    return [...this.lanes.keys()];
  }

  /** Restores stream states (from the changelog, encoded as read, or migrated) into a lane. */
  restore(key: string, states: Map<string, { state: StreamState; encoded: string | null }>, now: number): void {
    const lane = this.lane(key);
    for (const [name, s] of states) if (!lane.streams.has(name)) lane.restored(name, s.state, s.encoded, now);
  }

  /**
   * Feeds the steps of one message (offset) of `stream` on lane `key`. Returns the windows
   * cut, or 'dropped' when the stream is new and maxStreams streams are held. Step f of a
   * message has the order key (ts + f * stepMs, f).
   */
  ingest(key: string, stream: string, offset: number, steps: Float64Array[], ts: number | string | undefined, stepMs: number, now: number): IngestResult {
    if (this.sampled) throw new Error(`this registry cuts ${this.sampled.kind} windows from samples: use ingestSamples`);
    const got = this.admit(key, stream, offset, steps.length, now, (lane, from) => new StreamSlot(lane, stream, this.spec, this.policy, now, from));
    if (got === 'dropped') return { kind: 'dropped' };
    if (got === 'skipped') return { kind: 'ok', windows: [], late: 0, duplicate: 0 };
    const slot = got as StreamSlot;
    const lane = slot.lane;
    const windows: TrackedWindow[] = [];
    let late = 0;
    let duplicate = 0;
    const released: HeldStep[] = [];
    for (let f = 0; f < steps.length; f++) {
      const stepTs = typeof ts === 'number' && f > 0 ? ts + f * stepMs : ts;
      if (typeof stepTs !== 'number' || !Number.isFinite(stepTs)) {
        // No event time: arrival order.
        released.push({ offset, frame: f, values: steps[f], ts: stepTs, key: null });
        continue;
      }
      const key: OrderKey = { t: stepTs, sub: f };
      const drop = slot.order.push(key, { offset, frame: f, values: steps[f], ts: stepTs, key }, released);
      if (!drop) continue;
      if (offset <= slot.replayedTo) lane.skipped++; // read before the restart: already accounted for
      else if (drop === 'late') late++;
      else duplicate++;
    }
    for (const h of released) this.release(slot, h, windows);
    return { kind: 'ok', windows, late, duplicate };
  }

  private release(slot: StreamSlot, h: HeldStep, out: TrackedWindow[]): void {
    if (slot.skipSteps > 0) {
      // The rest of the needed step's message before a restart, or the H > W gap.
      slot.skipped(h.key);
      slot.lane.skipped++;
      return;
    }
    const w = slot.push(h.offset, h.frame, h.values, h.ts, h.key);
    if (w) out.push({ window: w, slot });
  }

  /**
   * Feeds one PCM message (mono samples at the input rate, `ts` the epoch ms of its first
   * sample) of device `stream` on lane `key`; returns the windows it completes.
   */
  ingestSamples(key: string, stream: string, offset: number, samples: Float32Array, ts: number | undefined, now: number): IngestResult {
    const sampled = this.sampled;
    if (!sampled) throw new Error('this registry cuts windows of steps: use ingest');
    const got = this.admit(key, stream, offset, samples.length, now, (lane, from) => sampled.slot(lane, stream, from, now));
    if (got === 'dropped') return { kind: 'dropped' };
    if (got === 'skipped') return { kind: 'ok', windows: [], late: 0, duplicate: 0 };
    const slot = got as SampleSlot;
    let x = samples;
    let t = ts;
    if (slot.skipSteps > 0) {
      // Samples before the resume point (same message) or the hopFrames > frames gap.
      const n = Math.min(slot.skipSteps, x.length);
      slot.skipSteps -= n;
      slot.lane.skipped += n;
      x = x.subarray(n);
      if (t !== undefined) t += (n / sampled.inputRate) * 1000;
    }
    const windows = slot.push(offset, x, t).map((window) => ({ window, slot }));
    return { kind: 'ok', windows, late: 0, duplicate: 0 };
  }

  /**
   * The slot of `stream` on lane `key`, created (from its restored or parked state, if any)
   * when new; 'skipped' when the message lies wholly before an offset-mode state's offset;
   * 'dropped' when the stream is new and maxStreams streams are held.
   */
  private admit(key: string, stream: string, offset: number, n: number, now: number, create: (lane: Lane, from: StreamState | undefined) => Slot): Slot | 'dropped' | 'skipped' {
    const lane = this.lane(key);
    lane.advance(offset);
    let slot = lane.streams.get(stream);
    if (!slot) {
      if (this.total >= this.opts.maxStreams) {
        this.dropped++;
        return 'dropped';
      }
      const parked = lane.resume.get(stream);
      if (parked && parked.state.t === undefined && offset < parked.state.o) {
        // Offset mode: steps before the resume point were in windows scored before the restart.
        lane.skipped += n;
        return 'skipped';
      }
      if (parked) lane.resume.delete(stream);
      slot = create(lane, parked?.state);
      lane.streams.set(stream, slot);
      this.total++;
    }
    slot.lastSeen = now;
    slot.lastOffset = offset;
    return slot;
  }

  /** Releases every reorder buffer of a lane (end of a replayed file); returns the windows cut. */
  flushLane(key: string): TrackedWindow[] {
    const out: TrackedWindow[] = [];
    const lane = this.lanes.get(key);
    if (!lane) return out;
    for (const s of lane.streams.values()) {
      if (!(s instanceof StreamSlot) || s.order.size === 0) continue;
      const released: HeldStep[] = [];
      s.order.flush(released);
      for (const h of released) this.release(s, h, out);
    }
    return out;
  }

  /** A window was scored and handed on. Windows of a dropped lane are ignored. */
  complete(t: TrackedWindow): void {
    if (!t.slot.alive || !t.slot.lane.alive) return;
    t.slot.completeOldest();
  }

  /**
   * Streams silent for idleTimeoutMs: their reorder buffers are released first (the
   * windows come back to be queued), then, once nothing of theirs is in flight, they are
   * forgotten and their state parked (see the module comment). Parked states past
   * stateRetentionMs are deleted.
   */
  sweep(now: number): SweepResult {
    const out: SweepResult = { expired: [], windows: [], forgotten: 0 };
    for (const lane of this.lanes.values()) out.forgotten += lane.expireParked(now, this.opts.stateRetentionMs ?? 0);
    if (this.opts.idleTimeoutMs <= 0) return out;
    for (const lane of this.lanes.values()) {
      for (const [name, s] of lane.streams) {
        if (now - s.lastSeen < this.opts.idleTimeoutMs) continue;
        if (s instanceof StreamSlot && s.order.size > 0) {
          const released: HeldStep[] = [];
          s.order.flush(released);
          for (const h of released) this.release(s, h, out.windows);
          continue;
        }
        if (s.inflightCount > 0) continue;
        const parked = s.parkedState();
        if (parked) lane.park(name, parked, now);
        s.alive = false;
        lane.streams.delete(name);
        this.total--;
        this.expired++;
        out.expired.push({ key: lane.key, stream: name });
      }
    }
    return out;
  }

  /** Drops a lane (partition revoked, rebalance): its streams continue from the changelog wherever it lands. */
  dropLane(key: string): string[] {
    const lane = this.lanes.get(key);
    if (!lane) return [];
    lane.alive = false;
    for (const s of lane.streams.values()) s.alive = false;
    this.total -= lane.streams.size;
    this.lanes.delete(key);
    return [...lane.streams.keys()];
  }

  /** Drops every lane and starts a new generation (kafkajs re-reads from committed offsets after a rebalance). */
  dropAll(): { key: string; streams: string[] }[] {
    this.generation++;
    return this.laneKeys().map((key) => ({ key, streams: this.dropLane(key) }));
  }

  /**
   * The lane's read position jumped to `offset` without the daemon asking: kafkajs reset an
   * out-of-range offset (the messages in between were deleted by retention or
   * deleteRecords, or the log was truncated). The offsets in the lane's states no longer
   * name the messages they were written for, so every stream goes on along its grid from
   * `offset`: offset-mode states (restored, parked) skip nothing (o = offset, k = 0); live
   * streams are parked at their next window start not yet cut, so no window spans the jump
   * and no start index is used twice (their windows in flight still go out, uncounted);
   * event-time states keep skipping by order key, which holds across a jump either way.
   * Streams that write no state (resampled audio) start again from `offset`.
   * Returns how many stream states were moved.
   */
  reseek(key: string, offset: number, now: number): number {
    const lane = this.lanes.get(key);
    if (!lane) return 0;
    for (const [name, s] of lane.streams) {
      const state = s.jumpState();
      if (state) lane.park(name, state, now);
      s.alive = false;
      this.total--;
    }
    lane.streams.clear();
    for (const p of lane.resume.values()) if (p.state.t === undefined) p.state = { ...p.state, o: offset, k: 0 };
    lane.lastOffset = offset - 1;
    return lane.resume.size;
  }

  /** Per lane: the commit point and the state changes to write before committing it. */
  commits(): Map<string, LaneCommit> {
    const out = new Map<string, LaneCommit>();
    for (const [key, lane] of this.lanes) {
      const c = lane.commit();
      if (c) out.set(key, c);
    }
    return out;
  }
}
