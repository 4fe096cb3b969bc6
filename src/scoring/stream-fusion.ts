/**
 * The window memory as part of live scoring (`serve`): each stream's memory (StreamMemories)
 * scores its windows beside the network, and the two calibrated surprises are fused by the
 * rule of fusion.ts (max minus log10 2), the same rule `evaluate` reports. One call per
 * scored batch, after the network: the events are updated in place, so every sink, the
 * alert engine and the metrics see the fused score.
 *
 * Per window: network surprise = -log10 of the model calibration's tail probability of the
 * raw score; memory surprise from the stream's own calibration (NaN while it warms up: then
 * the event is left as the network made it). Fused score on the calibrated scale:
 * 1 - 10^-fused, so the model's threshold 1 - q still applies and the flag is
 * fused >= -log10(q). Then the window is observed by the memory (warm-up, or the fifo
 * insertion policy, which keeps windows with fused surprise >= insertBelowSurprise out).
 */
import type { Window } from '../ingest/types.js';
import type { Calibration } from './calibration.js';
import { calibratedSurprise, fuseSurprises } from './fusion.js';
import { StreamMemories, type StreamMemoriesOptions } from './memory.js';
import type { ScoreEvent } from './types.js';

export interface StreamMemoryStats {
  bytes: number;
  /** Streams whose memory is built. */
  ready: number;
  /** Streams still collecting their warm-up windows. */
  warming: number;
  /** Streams dropped (least recently scored) to stay within the bounds, since start. */
  dropped: number;
}

export class StreamMemoryFusion {
  readonly memories: StreamMemories;
  private readonly parts = new Float64Array(2);

  constructor(opts: StreamMemoriesOptions) {
    this.memories = new StreamMemories(opts);
  }

  /**
   * Fuses the memory into `events` (events[i] scored windows[i]; windows of one stream in
   * stream order). A model without a calibration has no surprise to fuse with: the events
   * are left alone and the memories are not fed.
   */
  apply(windows: readonly Window[], events: ScoreEvent[], calibration: Calibration | null): void {
    if (!calibration) return;
    if (windows.length !== events.length) throw new Error(`${windows.length} windows for ${events.length} score events`);
    const limit = -Math.log10(calibration.targetFalseAlarmRate);
    for (let i = 0; i < events.length; i++) {
      const w = windows[i];
      const ev = events[i];
      const network = calibratedSurprise(calibration, ev.raw);
      const memory = this.memories.surprise(w.stream, w.data);
      let fused = network;
      if (Number.isNaN(memory)) {
        ev.parts = { network: round(network), memory: null };
      } else {
        this.parts[0] = network;
        this.parts[1] = memory;
        fused = fuseSurprises(this.parts);
        ev.score = 1 - 10 ** -fused;
        ev.surprise = fused;
        // An audio event's horizon decision stays ORed in (daemon/audio horizon statistics).
        ev.anomaly = fused >= limit || (ev.horizon?.anomaly ?? false);
        ev.parts = { network: round(network), memory: round(memory) };
      }
      this.memories.observe(w.stream, w.data, w.end, fused);
    }
  }

  /** Drops streams' memories (revoked partitions, idle-expired streams). */
  forget(streams: Iterable<string>): void {
    this.memories.forget(streams);
  }

  stats(): StreamMemoryStats {
    const m = this.memories;
    return { bytes: m.bytes, ready: m.readyCount, warming: m.streamCount - m.readyCount, dropped: m.droppedStreams };
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
