/**
 * Stream registry and commit-offset tracker (pure logic: no Kafka client, no timers).
 *
 * State lives per partition (a "lane": one Kafka topic-partition, one replayed file, the
 * generator). A lane holds the streams whose messages arrived on it, each a
 * `StreamWindower` (ring buffer: a message's values are written once into the ring; a
 * window is copied out only when due) plus a parallel ring of the Kafka offset and
 * frame-in-message of each step. The same stream id on two partitions is two streams.
 *
 * ## Which offset may be committed (at-least-once)
 *
 * Kafka commits "the next offset to read": committing c promises that every message below
 * c is done. A message is done when every window that contains one of its steps has been
 * scored and handed to the sinks. With window W and hop H a step is in up to ceil(W/H)
 * windows, some already scored, some in flight (queued or being scored), some not yet cut.
 *
 * Per stream, steps are numbered 0, 1, ... in arrival order; windows cover steps
 * [jH, jH + W) for j = 0, 1, ... . The oldest step the stream still needs is
 *  - the first step of its oldest in-flight window (windows of one stream complete in
 *    order: one FIFO queue, one scorer), else
 *  - the first step of its next, not-yet-cut window: jH with j the first window not yet cut.
 *    That step is in the ring (jH >= count - W), or not yet seen when H > W (nothing needed).
 * The stream's low-water offset is that step's message offset. The lane's commit offset is
 * min(low-water offsets of its streams, dead-letter sends in flight, last offset read + 1).
 * Every message below it is done: each of its steps lies before every stream's needed step,
 * so all windows containing it were cut, and none of them is in flight.
 *
 * ## Resuming on the window grid
 *
 * Re-reading from the commit offset c restarts every stream of the lane at its first step
 * at or after c, which would shift the window grid of streams whose needed step is later
 * than c (windows would end at other steps than before the restart). So each commit also
 * carries, in the offset commit metadata, each stream's resume point: the offset o and
 * frame k of its needed step and that step's row index i. On restore, a stream skips the
 * steps before (o, k) (all of their windows were scored) and continues with row index i:
 * the same windows, with the same `start`/`end`, as without the restart. Resume points
 * that do not fit the metadata budget are left out; those streams warm up again from c
 * (covering more, never less). Streams are forgotten on rebalance (state lives per
 * partition): a partition that moves to another replica resumes there from the commit
 * metadata the same way; in-memory state that was not committed is rebuilt by re-reading.
 *
 * ## Audio
 *
 * With an audio model the registry holds `AudioSlot`s (audio.ts) instead: PCM samples in,
 * log-mel windows out, the same rule with samples for steps (a window's first frame maps
 * back to the input sample, and that to its message offset), the same resume metadata at
 * equal sample rates (k counts samples, i is a frame index).
 */
import type { Window } from '../ingest/types.js';
import { StreamWindower, type WindowSpec } from '../ingest/windower.js';
import { AudioSlot, type AudioSpec } from './audio.js';

/** Where a stream continues after a restart: skip steps before (offset o, frame k); next row index i. */
export interface ResumePoint {
  o: number;
  k: number;
  i: number;
}

interface InFlight {
  offset: number;
  frame: number;
  local: number;
}

export class StreamSlot {
  readonly kind = 'steps';
  /** Step streams always resume exactly (see the module comment). */
  readonly resumable = true;
  readonly windower: StreamWindower;
  private readonly offRing: Float64Array;
  private readonly frameRing: Uint32Array;
  /** Row index of local step 0 (non-zero after a resume). */
  readonly base: number;
  lastOffset = -1;
  lastSeen: number;
  /** Steps still to skip after a resume (see ResumePoint.k). */
  skipSteps = 0;
  private readonly inflight: InFlight[] = [];
  private inflightHead = 0;
  alive = true;

  constructor(
    readonly lane: Lane,
    readonly stream: string,
    private readonly spec: WindowSpec,
    now: number,
    base = 0,
  ) {
    this.windower = new StreamWindower(stream, spec);
    this.offRing = new Float64Array(spec.length);
    this.frameRing = new Uint32Array(spec.length);
    this.base = base;
    this.lastSeen = now;
  }

  get count(): number {
    return this.windower.seen;
  }

  get inflightCount(): number {
    return this.inflight.length - this.inflightHead;
  }

  /** Adds one step; returns the window it completes, if any. */
  push(offset: number, frame: number, values: Float64Array, ts: number | string | undefined): Window | null {
    const local = this.count;
    const slot = local % this.spec.length;
    this.offRing[slot] = offset;
    this.frameRing[slot] = frame;
    this.lastOffset = offset;
    const w = this.windower.push({ index: this.base + local, values, ts });
    if (w) {
      const first = local + 1 - this.spec.length;
      const s = first % this.spec.length;
      this.inflight.push({ offset: this.offRing[s], frame: this.frameRing[s], local: first });
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

  /** The oldest step this stream still needs (see the module comment), as a resume point. */
  resumePoint(): ResumePoint {
    const { length: W, hop: H } = this.spec;
    if (this.inflightCount > 0) {
      const f = this.inflight[this.inflightHead];
      return { o: f.offset, k: f.frame, i: this.base + f.local };
    }
    const count = this.count;
    const next = count < W ? 0 : (Math.floor((count - W) / H) + 1) * H;
    if (next < count) {
      const s = next % W;
      return { o: this.offRing[s], k: this.frameRing[s], i: this.base + next };
    }
    // H > W: the next window starts at a step not seen yet; skip the gap after a restart.
    return { o: this.lastOffset + 1, k: next - count + this.skipSteps, i: this.base + next };
  }
}

/** A stream's state in a lane: time-series steps, or PCM audio (audio.ts). */
export type Slot = StreamSlot | AudioSlot;

export interface LaneCommit {
  /** Next offset to read: every message below it is done. */
  offset: number;
  /** Resume points of the lane's streams (JSON), within the byte budget; '' when none. */
  metadata: string;
}

/** One partition's (or one file's) streams and progress. */
export class Lane {
  readonly streams = new Map<string, Slot>();
  /** Resume points restored from commit metadata, waiting for their stream's first message. */
  readonly resume = new Map<string, ResumePoint & { since: number }>();
  /** Offsets of dead-letter sends in flight (offset -> count). */
  private readonly pendingOffsets = new Map<number, number>();
  lastOffset = -1;
  alive = true;
  /** Steps skipped on resume (already scored before a restart). */
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

  /** The commit point and resume metadata, or null before the first message. */
  commit(metadataBytes: number): LaneCommit | null {
    if (this.lastOffset < 0) return null;
    let min = this.lastOffset + 1;
    for (const off of this.pendingOffsets.keys()) if (off < min) min = off;
    const points: [string, ResumePoint][] = [];
    for (const s of this.streams.values()) {
      const p = s.resumePoint();
      if (p.o < min) min = p.o;
      if (s.resumable) points.push([s.stream, p]);
    }
    // Restored points whose stream has not come back yet keep their place in the metadata.
    for (const [name, p] of this.resume) points.push([name, { o: p.o, k: p.k, i: p.i }]);
    return { offset: min, metadata: encodeResume(points, metadataBytes) };
  }
}

const RESUME_VERSION = 1;

/** {"v":1,"s":{"stream":[o,k,i],...}} within `maxBytes` (UTF-8); streams that do not fit are left out. */
export function encodeResume(points: [string, ResumePoint][], maxBytes: number): string {
  if (maxBytes <= 0 || points.length === 0) return '';
  const head = `{"v":${RESUME_VERSION},"s":{`;
  let out = head;
  let bytes = Buffer.byteLength(head) + 2;
  let first = true;
  // Oldest points first: they matter most (their streams would re-read the most).
  points.sort((a, b) => a[1].o - b[1].o);
  for (const [name, p] of points) {
    const entry = `${first ? '' : ','}${JSON.stringify(name)}:[${p.o},${p.k},${p.i}]`;
    const n = Buffer.byteLength(entry);
    if (bytes + n > maxBytes) continue;
    out += entry;
    bytes += n;
    first = false;
  }
  return first ? '' : out + '}}';
}

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

/** A window with the stream slot that cut it, so its completion can be reported. */
export interface TrackedWindow {
  window: Window;
  slot: Slot;
}

export type IngestResult =
  | { kind: 'ok'; windows: TrackedWindow[] }
  /** maxStreams reached: the message's stream is new and was not admitted. */
  | { kind: 'dropped' };

export interface RegistryOptions {
  maxStreams: number;
  /** 0: never expire. */
  idleTimeoutMs: number;
}

export class StreamRegistry {
  private readonly lanes = new Map<string, Lane>();
  private total = 0;
  private generation = 0;
  dropped = 0;
  expired = 0;

  /**
   * `audio`: the registry cuts log-mel windows from PCM (`ingestAudio`) instead of windows
   * of steps (`ingest`); `spec` is then the model's window shape ([nMels, frames], hop
   * hopFrames), for information.
   */
  constructor(
    readonly spec: WindowSpec,
    readonly opts: RegistryOptions,
    readonly audio?: AudioSpec,
  ) {}

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

  /** Restores resume points (from commit metadata) into a fresh lane. */
  restore(key: string, points: Map<string, ResumePoint>, now: number): void {
    const lane = this.lane(key);
    for (const [name, p] of points) if (!lane.streams.has(name)) lane.resume.set(name, { ...p, since: now });
  }

  /**
   * Feeds the steps of one message (offset) of `stream` on lane `key`. Returns the windows
   * cut, or 'dropped' when the stream is new and maxStreams streams are held.
   */
  ingest(key: string, stream: string, offset: number, steps: Float64Array[], ts: number | string | undefined, stepMs: number, now: number): IngestResult {
    if (this.audio) throw new Error('this registry cuts audio windows: use ingestAudio');
    const got = this.admit(key, stream, offset, steps.length, now, (lane, base) => new StreamSlot(lane, stream, this.spec, now, base));
    if (got === 'dropped') return { kind: 'dropped' };
    if (got === 'skipped') return { kind: 'ok', windows: [] };
    const slot = got as StreamSlot;
    const lane = slot.lane;
    const windows: TrackedWindow[] = [];
    for (let f = 0; f < steps.length; f++) {
      if (slot.skipSteps > 0) {
        // Frames before the resume point (same message) or the H > W gap.
        slot.skipSteps--;
        lane.skipped++;
        continue;
      }
      const stepTs = typeof ts === 'number' && f > 0 ? ts + f * stepMs : ts;
      const w = slot.push(offset, f, steps[f], stepTs);
      if (w) windows.push({ window: w, slot });
    }
    return { kind: 'ok', windows };
  }

  /**
   * Feeds one PCM message (mono samples at the input rate, `ts` the epoch ms of its first
   * sample) of device `stream` on lane `key`; returns the log-mel windows it completes.
   */
  ingestAudio(key: string, stream: string, offset: number, samples: Float32Array, ts: number | undefined, now: number): IngestResult {
    const spec = this.audio;
    if (!spec) throw new Error('this registry cuts windows of steps: use ingest');
    const got = this.admit(key, stream, offset, samples.length, now, (lane, base) => new AudioSlot(lane, stream, spec, now, base));
    if (got === 'dropped') return { kind: 'dropped' };
    if (got === 'skipped') return { kind: 'ok', windows: [] };
    const slot = got as AudioSlot;
    let x = samples;
    let t = ts;
    if (slot.skipSteps > 0) {
      // Samples before the resume point (same message) or the hopFrames > frames gap.
      const n = Math.min(slot.skipSteps, x.length);
      slot.skipSteps -= n;
      slot.lane.skipped += n;
      x = x.subarray(n);
      if (t !== undefined) t += (n / spec.inputRate) * 1000;
    }
    const windows = slot.push(offset, x, t).map((window) => ({ window, slot }));
    return { kind: 'ok', windows };
  }

  /**
   * The slot of `stream` on lane `key`, created (at its resume point, if any) when new;
   * 'skipped' when the message lies wholly before the stream's resume point; 'dropped' when
   * the stream is new and maxStreams streams are held.
   */
  private admit(key: string, stream: string, offset: number, n: number, now: number, create: (lane: Lane, base: number) => Slot): Slot | 'dropped' | 'skipped' {
    const lane = this.lane(key);
    lane.advance(offset);
    let slot = lane.streams.get(stream);
    let skipTo: ResumePoint | undefined;
    if (!slot) {
      if (this.total >= this.opts.maxStreams) {
        this.dropped++;
        return 'dropped';
      }
      const rp = lane.resume.get(stream);
      if (rp) {
        // Steps before the resume point were in windows scored before the restart.
        if (offset < rp.o) {
          lane.skipped += n;
          rp.since = now;
          return 'skipped';
        }
        lane.resume.delete(stream);
        skipTo = rp;
      }
      slot = create(lane, skipTo?.i ?? 0);
      lane.streams.set(stream, slot);
      this.total++;
    }
    slot.lastSeen = now;
    slot.lastOffset = offset;
    if (skipTo) slot.skipSteps = skipTo.k;
    return slot;
  }

  /** A window was scored and handed on. Windows of a dropped lane are ignored. */
  complete(t: TrackedWindow): void {
    if (!t.slot.alive || !t.slot.lane.alive) return;
    t.slot.completeOldest();
  }

  /** Forgets streams silent for idleTimeoutMs (not those with windows in flight). Returns their names. */
  sweep(now: number): { key: string; stream: string }[] {
    const out: { key: string; stream: string }[] = [];
    if (this.opts.idleTimeoutMs <= 0) return out;
    for (const lane of this.lanes.values()) {
      for (const [name, s] of lane.streams) {
        if (now - s.lastSeen < this.opts.idleTimeoutMs || s.inflightCount > 0) continue;
        s.alive = false;
        lane.streams.delete(name);
        this.total--;
        this.expired++;
        out.push({ key: lane.key, stream: name });
      }
      for (const [name, p] of lane.resume) if (now - p.since >= this.opts.idleTimeoutMs) lane.resume.delete(name);
    }
    return out;
  }

  /** Drops a lane (partition revoked, rebalance): its streams warm up again when it comes back. */
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

  commits(metadataBytes: number): Map<string, LaneCommit> {
    const out = new Map<string, LaneCommit>();
    for (const [key, lane] of this.lanes) {
      const c = lane.commit(metadataBytes);
      if (c) out.set(key, c);
    }
    return out;
  }
}
