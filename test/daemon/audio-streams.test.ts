/**
 * Audio slots of the stream registry (pure logic, no broker): PCM messages → log-mel
 * windows, commit offsets that never pass a message with samples in an unscored window,
 * and resume points that continue each device on its frame grid with the same windows.
 */
import { describe, expect, it } from 'vitest';
import { audioConfigSchema, type AudioSettings } from '../../src/features/audio/config.js';
import { AudioWindower } from '../../src/features/audio/features.js';
import type { Window } from '../../src/ingest/types.js';
import { AudioSlot, rateMap } from '../../src/features/audio/slot.js';
import { AudioStreaming } from '../../src/features/audio/streaming.js';
import { StreamRegistry, decodeState, type TrackedWindow } from '../../src/daemon/streams.js';
import { Rng } from '../../src/util/rng.js';
import { machineClip, SR } from '../support/audio-clips.js';

const settings = (o: Record<string, unknown> = {}): AudioSettings =>
  audioConfigSchema.shape.audio.parse({ sampleRate: SR, channel: 0, nFft: 256, hop: 128, nMels: 16, frames: 8, hopFrames: 4, loudness: { mode: 'window', targetDb: -20 }, ...o });

/** Reference: the whole signal in one push (chunking independence is tested in test/features/audio). */
function fileWindowsFromSamples(a: AudioSettings, stream: string, x: Float32Array): Window[] {
  return new AudioWindower(a, { stream, inputRate: a.sampleRate }).push(x);
}

interface Message {
  stream: string;
  offset: number;
  /** Input sample index of the message's first sample within its stream. */
  first: number;
  samples: Float32Array;
  ts: number;
}

/** Devices' signals cut into randomly sized messages, interleaved on one lane (offsets 0..). */
function messages(signals: Record<string, Float32Array>, rate: number, seed: number): Message[] {
  const rng = new Rng(seed);
  const pos = Object.fromEntries(Object.keys(signals).map((s) => [s, 0]));
  const out: Message[] = [];
  const T0 = 1_700_000_000_000;
  for (;;) {
    const live = Object.keys(signals).filter((s) => pos[s] < signals[s].length);
    if (live.length === 0) return out;
    const s = live[rng.int(live.length)];
    const n = 1 + rng.int(600);
    const first = pos[s];
    const samples = signals[s].subarray(first, first + n);
    out.push({ stream: s, offset: out.length, first, samples, ts: T0 + (first / rate) * 1000 });
    pos[s] += samples.length;
  }
}

const key = (w: { stream: string; start: number }) => `${w.stream}@${w.start}`;

/**
 * Feeds messages from `from`, completing queued windows (FIFO, as the daemon's one scorer
 * does) at random moments; `check` runs after every message and every completion.
 */
function run(r: StreamRegistry, msgs: Message[], from: number, seed: number, check: (done: TrackedWindow[], queued: TrackedWindow[]) => void, stopAt = Infinity) {
  const rng = new Rng(seed);
  const queue: TrackedWindow[] = [];
  const done: TrackedWindow[] = [];
  for (const m of msgs) {
    if (m.offset < from) continue;
    if (m.offset >= stopAt) break;
    const res = r.ingestSamples('t/0', m.stream, m.offset, m.samples, m.ts, 0);
    if (res.kind !== 'ok') throw new Error('dropped');
    queue.push(...res.windows);
    check(done, queue);
    while (queue.length && rng.next() < 0.4) {
      const w = queue.shift()!;
      r.complete(w);
      done.push(w);
      check(done, queue);
    }
  }
  return { done, queue };
}

describe('audio slots: commit offsets and resume points', () => {
  const signals = {
    'fan-1': machineClip({ seed: 1, seconds: 1.6 }),
    'fan-2': machineClip({ seed: 2, seconds: 1.3 }),
    'fan-3': machineClip({ seed: 3, seconds: 1.1, tone: 1300 }),
  };

  it('cuts the same windows as the offline path, and never commits past a sample of an unscored window', () => {
    const a = settings();
    const msgs = messages(signals, SR, 7);
    const ref = new Map(Object.entries(signals).flatMap(([s, x]) => fileWindowsFromSamples(a, s, x).map((w) => [key(w), w] as const)));
    const r = new StreamRegistry({ length: a.frames, hop: a.hopFrames, channels: a.nMels }, { maxStreams: 10, idleTimeoutMs: 0 }, new AudioStreaming({ settings: a, inputRate: SR }, 10));
    let checks = 0;
    const { done, queue } = run(r, msgs, 0, 3, (_done, queued) => {
      const c = r.commits().get('t/0');
      if (!c) return;
      // Every message below the commit offset: none of its samples is in a window still queued
      // or not yet cut (windows not yet cut start at or after the stream's next window start).
      for (const w of queued) {
        const firstSample = w.window.start * a.hop;
        const lastSample = w.window.end * a.hop + a.nFft - 1;
        for (const m of msgs) {
          if (m.offset >= c.offset || m.stream !== w.window.stream) continue;
          const overlaps = m.first <= lastSample && m.first + m.samples.length > firstSample;
          expect(overlaps, `message ${m.offset} (${m.stream}) committed while window ${key(w.window)} is queued`).toBe(false);
        }
      }
      checks++;
    });
    expect(checks).toBeGreaterThan(50);
    const all = [...done, ...queue].map((t) => t.window);
    expect(all.map(key).sort()).toEqual([...ref.keys()].sort());
    for (const w of all) expect(Array.from(w.data)).toEqual(Array.from(ref.get(key(w))!.data));
    // Timestamps from the record timestamps: a window starts at its first sample's time.
    const w0 = all.find((w) => w.stream === 'fan-1' && w.start === 4)!;
    expect(w0.startTs).toBeCloseTo(1_700_000_000_000 + ((4 * a.hop) / SR) * 1000, 6);
    // Once everything is scored, the commit reaches the last message or the oldest sample a future window needs.
    for (const t of queue) r.complete(t);
    const c = r.commits().get('t/0')!;
    const needed = Object.entries(signals).map(([s, x]) => {
      const frames = Math.floor((x.length - a.nFft) / a.hop) + 1;
      const next = (Math.floor((frames - a.frames) / a.hopFrames) + 1) * a.hopFrames;
      return msgs.find((m) => m.stream === s && m.first + m.samples.length > next * a.hop)?.offset ?? msgs.length;
    });
    expect(c.offset).toBe(Math.min(...needed));
  });

  it('restarts from the commit offset and its metadata: nothing lost, same grid, same windows', () => {
    const a = settings();
    const msgs = messages(signals, SR, 11);
    const ref = new Map(Object.entries(signals).flatMap(([s, x]) => fileWindowsFromSamples(a, s, x).map((w) => [key(w), w] as const)));
    const make = () => new StreamRegistry({ length: a.frames, hop: a.hopFrames, channels: a.nMels }, { maxStreams: 10, idleTimeoutMs: 0 }, new AudioStreaming({ settings: a, inputRate: SR }, 10));
    let skipped = 0;
    for (const stopAt of [9, Math.floor(msgs.length / 2), msgs.length - 5]) {
      const r1 = make();
      const first = run(r1, msgs, 0, stopAt, () => undefined, stopAt);
      const c = r1.commits().get('t/0')!;
      expect(c.changes).not.toEqual([]);
      // The crash loses whatever was queued; the restart re-reads from the commit offset.
      const r2 = make();
      r2.restore('t/0', new Map(c.changes.map((x) => [x.stream, { state: decodeState(x.value)!, encoded: x.value }])), 0);
      const second = run(r2, msgs, c.offset, 5, () => undefined);
      const before = first.done.map((t) => t.window);
      const after = [...second.done, ...second.queue].map((t) => t.window);
      expect(new Set([...before, ...after].map(key))).toEqual(new Set(ref.keys()));
      for (const w of after) {
        expect(ref.has(key(w)), `window ${key(w)} off the grid`).toBe(true);
        expect(Array.from(w.data)).toEqual(Array.from(ref.get(key(w))!.data));
      }
      // Re-scored after the restart: at most the windows that were queued at the crash.
      const rescored = after.filter((w) => before.some((b) => key(b) === key(w)));
      expect(rescored.length).toBe(0);
      skipped += r2.lane('t/0').skipped;
    }
    // Resume points did skip samples whose windows were all scored before the crash.
    expect(skipped).toBeGreaterThan(0);
  });

  it('resampling: commits hold back the resampler kernel reach; no resume point is written', () => {
    const a = settings();
    const inRate = 16000;
    const sig = { 'mic-1': machineClip({ seed: 4, seconds: 2 }), 'mic-2': machineClip({ seed: 5, seconds: 2 }) };
    const msgs = messages(sig, inRate, 5);
    const map = rateMap(inRate, SR)!;
    expect(map).toMatchObject({ up: 1, down: 2 });
    const r = new StreamRegistry({ length: a.frames, hop: a.hopFrames, channels: a.nMels }, { maxStreams: 10, idleTimeoutMs: 0 }, new AudioStreaming({ settings: a, inputRate: inRate }, 10));
    // Counted, so the check cannot pass by never running (no commit yet, or nothing queued).
    let commitsChecked = 0;
    let windowsChecked = 0;
    run(r, msgs, 0, 9, (_done, queued) => {
      const c = r.commits().get('t/0');
      if (!c) return;
      commitsChecked++;
      expect(c.changes).toEqual([]);
      for (const w of queued) {
        // Input samples the window's first resampled sample depends on start here.
        const firstInput = Math.max(0, w.window.start * a.hop * 2 - map.lookahead);
        const m = msgs.find((x) => x.stream === w.window.stream && x.first + x.samples.length > firstInput)!;
        expect(m.offset).toBeGreaterThanOrEqual(c.offset);
        windowsChecked++;
      }
    });
    expect(commitsChecked).toBeGreaterThan(10);
    expect(windowsChecked).toBeGreaterThan(10);
    const slot = r.lane('t/0').streams.get('mic-1');
    expect(slot).toBeInstanceOf(AudioSlot);
    expect(slot!.resumable).toBe(false);
  });
});
