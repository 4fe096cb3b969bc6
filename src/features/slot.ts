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

/** The part of a lane (streams.ts `Lane`) a slot holds on to. */
export interface SlotLane {
  readonly key: string;
  /** False once the lane is dropped (partition revoked): its windows are not reported. */
  readonly alive: boolean;
  /** Steps (or samples) skipped on resume. */
  skipped: number;
}
