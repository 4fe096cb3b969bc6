/**
 * What a stream slot (src/daemon/streams.ts: time-series steps; src/features/audio/slot.ts:
 * PCM audio) needs from the lane that holds it and what it reports back, kept apart from
 * both so that no slot module imports another.
 */

/** Where a stream continues after a restart (offset mode): skip steps before (offset o, frame k); next index i. */
export interface ResumePoint {
  o: number;
  k: number;
  i: number;
}

import type { Window } from '../ingest/types.js';

/** The part of a lane (streams.ts `Lane`) a slot holds on to. */
export interface SlotLane {
  readonly key: string;
  /** False once the lane is dropped (partition revoked): its windows are not reported. */
  readonly alive: boolean;
  /** Steps (or samples) skipped on resume. */
  skipped: number;
}

/**
 * A stream's persisted state (one changelog record; src/daemon/streams.ts explains it).
 * Event-time mode when `t` is set: skip released steps whose key is <= (t, f); else offset
 * mode: skip messages below `o`. Then skip `k` released steps and number the next one `i`.
 * `o` is the stream's low-water offset, `r` the last offset it read (replayed steps below
 * it are not counted as late), `a` when it was last seen (epoch ms).
 */
export interface StreamState {
  i: number;
  o: number;
  k: number;
  t?: number;
  f?: number;
  r: number;
  a: number;
}

/**
 * One stream's windowing state in a lane, whatever the signal kind (time-series steps,
 * PCM audio, ...): what the daemon's stream registry needs to track commits and idle expiry.
 */
export interface Slot {
  readonly lane: SlotLane;
  readonly stream: string;
  /** Whether a restart continues this stream exactly (its state is written to the changelog). */
  readonly resumable: boolean;
  lastOffset: number;
  lastSeen: number;
  /** False once the stream expired or its lane was dropped: its windows are not reported. */
  alive: boolean;
  /** Windows cut and not yet scored and handed on. */
  readonly inflightCount: number;
  /** The oldest in-flight window of this stream was scored and handed on. */
  completeOldest(): void;
  /**
   * The smallest offset the stream still needs (Infinity: none) and the state a restart
   * continues from; state null when the kind cannot resume exactly (it then restarts at
   * the lane's commit offset and warms up again).
   */
  commitPoint(): { offset: number; state: StreamState | null };
  /** The state to keep when the stream expires idle; null: none (it starts afresh). */
  parkedState(): StreamState | null;
  /**
   * The state to park at when the lane's read position jumped (an out-of-range offset was
   * reset): the next window start not yet cut, so no window spans the jump and no start
   * index is used twice; null: none (it starts afresh).
   */
  jumpState(): StreamState | null;
}

/** The slot of a sampled-signal kind (audio, ...): mono samples in, windows out. */
export interface SampleSlot extends Slot {
  /** Input samples still to skip after a resume (StreamState.k). */
  skipSteps: number;
  /** Mono samples of one message (at the input rate); returns the windows they complete. */
  push(offset: number, samples: Float32Array, ts: number | undefined): Window[];
}
