/** Stream registry and commit-offset tracker: pure logic, no broker. */
import { describe, expect, it } from 'vitest';
import { StreamRegistry, decodeResume, decodeState, encodeState, type TrackedWindow } from '../../src/daemon/streams.js';

const spec = { length: 4, hop: 2, channels: 1 };
const v = (x: number) => [Float64Array.of(x)];

function registry(maxStreams = 100, idleTimeoutMs = 0) {
  return new StreamRegistry(spec, { maxStreams, idleTimeoutMs });
}

function feed(r: StreamRegistry, lane: string, stream: string, offset: number, x = offset): TrackedWindow[] {
  const res = r.ingest(lane, stream, offset, v(x), 1000 + offset, 0, 0);
  if (res.kind !== 'ok') throw new Error('dropped');
  return res.windows;
}

describe('StreamRegistry windows', () => {
  it('warms up until the first full window, then cuts every hop, keeping timestamps and row indices', () => {
    const r = registry();
    const cut: TrackedWindow[] = [];
    for (let o = 0; o < 9; o++) cut.push(...feed(r, 'p0', 's', o));
    expect(cut.map((w) => [w.window.start, w.window.end])).toEqual([
      [0, 3],
      [2, 5],
      [4, 7],
    ]);
    expect(cut[1].window.startTs).toBe(1002);
    expect(cut[1].window.endTs).toBe(1005);
    expect(Array.from(cut[2].window.data)).toEqual([4, 5, 6, 7]);
  });

  it('keeps streams apart per partition: the same id on two partitions is two streams', () => {
    const r = registry();
    feed(r, 'p0', 's', 0);
    feed(r, 'p1', 's', 0);
    expect(r.streamCount).toBe(2);
  });

  it('drops (and counts) messages of new streams beyond maxStreams; known streams go on', () => {
    const r = registry(2);
    feed(r, 'p0', 'a', 0);
    feed(r, 'p0', 'b', 1);
    expect(r.ingest('p0', 'c', 2, v(0), undefined, 0, 0).kind).toBe('dropped');
    expect(r.ingest('p0', 'a', 3, v(0), undefined, 0, 0).kind).toBe('ok');
    expect(r.dropped).toBe(1);
    expect(r.streamCount).toBe(2);
    // The dropped message does not hold the partition back.
    expect(r.commits().get('p0')!.offset).toBe(0); // a and b are warming up from offsets 0 and 1
  });

  it('expires idle streams, but never one with windows in flight', () => {
    const r = new StreamRegistry(spec, { maxStreams: 10, idleTimeoutMs: 100 });
    const ws: TrackedWindow[] = [];
    for (let o = 0; o < 4; o++) ws.push(...(r.ingest('p0', 'busy', o, v(o), undefined, 0, 0) as { windows: TrackedWindow[] }).windows);
    r.ingest('p0', 'idle', 4, v(0), undefined, 0, 0);
    expect(ws).toHaveLength(1);
    expect(r.sweep(1000).expired.map((s) => s.stream)).toEqual(['idle']);
    r.complete(ws[0]);
    expect(r.sweep(1000).expired.map((s) => s.stream)).toEqual(['busy']);
    expect(r.streamCount).toBe(0);
    expect(r.expired).toBe(2);
  });
});

describe('commit offsets', () => {
  it('commit point is the first step of the oldest unscored or not-yet-cut window', () => {
    const r = registry();
    const ws: TrackedWindow[] = [];
    for (let o = 0; o < 4; o++) ws.push(...feed(r, 'p0', 's', o));
    expect(ws).toHaveLength(1);
    expect(r.commits().get('p0')!.offset).toBe(0); // window [0,3] in flight
    r.complete(ws[0]);
    expect(r.commits().get('p0')!.offset).toBe(2); // next window starts at step 2
    ws.push(...feed(r, 'p0', 's', 4));
    ws.push(...feed(r, 'p0', 's', 5)); // cuts [2,5]
    ws.push(...feed(r, 'p0', 's', 6));
    ws.push(...feed(r, 'p0', 's', 7)); // cuts [4,7]
    expect(ws).toHaveLength(3);
    expect(r.commits().get('p0')!.offset).toBe(2);
    r.complete(ws[1]);
    expect(r.commits().get('p0')!.offset).toBe(4);
    r.complete(ws[2]);
    expect(r.commits().get('p0')!.offset).toBe(6);
  });

  it('is the minimum over the streams of a partition, dead letters in flight and the read position', () => {
    const r = registry();
    // Stream a at even offsets, b at odd ones; b stops early (warming up, holds its first offset).
    feed(r, 'p0', 'b', 1);
    const ws: TrackedWindow[] = [];
    for (let o = 0; o < 20; o += 2) ws.push(...feed(r, 'p0', 'a', o));
    for (const w of ws) r.complete(w);
    expect(r.commits().get('p0')!.offset).toBe(1);
    const lane = r.lane('p0');
    r.dropLane('p0');
    expect(r.commits().has('p0')).toBe(false);
    expect(lane.alive).toBe(false);

    const r2 = registry();
    for (let o = 0; o < 4; o++) for (const w of feed(r2, 'p0', 'a', o)) r2.complete(w);
    r2.lane('p0').advance(4); // a bad message at offset 4
    r2.lane('p0').hold(4); // its dead-letter send is in flight
    expect(r2.commits().get('p0')!.offset).toBe(2);
    for (let o = 5; o < 12; o++) for (const w of feed(r2, 'p0', 'a', o)) r2.complete(w);
    expect(r2.commits().get('p0')!.offset).toBe(4);
    r2.lane('p0').release(4);
    // 11 steps (offsets 0-3, 5-11): windows up to step 9 scored, the next starts at step 8 = offset 9.
    expect(r2.commits().get('p0')!.offset).toBe(9);
  });

  it('a message of several steps (PCM frames) stays uncommitted until its last window is scored', () => {
    const r = registry();
    const res = r.ingest('p0', 's', 7, [1, 2, 3, 4, 5, 6].map((x) => Float64Array.of(x)), 0, 10, 0);
    if (res.kind !== 'ok') throw new Error('dropped');
    expect(res.windows.map((w) => [w.window.start, w.window.end, w.window.endTs])).toEqual([
      [0, 3, 30],
      [2, 5, 50],
    ]);
    r.complete(res.windows[0]);
    r.complete(res.windows[1]);
    // Next window starts at frame 4 of message 7: message 7 is not done yet.
    expect(r.commits().get('p0')!.offset).toBe(7);
  });

  it('stream states let a restarted registry continue every stream on its window grid', () => {
    // Messages: three interleaved streams on one partition; crash after scoring part of them.
    const streams = ['a', 'b', 'c'];
    const messages = Array.from({ length: 90 }, (_, o) => ({ o, s: streams[(o * 7) % 3 === 0 ? 0 : o % 3] }));
    const all = new Set<string>();
    const full = registry();
    for (const m of messages) for (const w of feed(full, 'p0', m.s, m.o)) all.add(`${m.s}:${w.window.start}-${w.window.end}`);

    const r = registry();
    const scored = new Set<string>();
    const inFlight: TrackedWindow[] = [];
    for (const m of messages.slice(0, 60)) {
      inFlight.push(...feed(r, 'p0', m.s, m.o));
      // Score all but the last two windows cut so far.
      while (inFlight.length > 2) {
        const w = inFlight.shift()!;
        r.complete(w);
        scored.add(`${w.slot.stream}:${w.window.start}-${w.window.end}`);
      }
    }
    const commit = r.commits().get('p0')!;
    expect(commit.changes.map((c) => c.stream).sort()).toEqual(streams);
    // Crash: the two in-flight windows are lost. Restart from the commit point with the states.
    const r2 = registry();
    r2.restore('p0', new Map(commit.changes.map((c) => [c.stream, { state: decodeState(c.value)!, encoded: c.value }])), 0);
    expect(r2.commits().get('p0')).toBeUndefined(); // nothing read yet
    const again: string[] = [];
    for (const m of messages.filter((x) => x.o >= commit.offset)) for (const w of feed(r2, 'p0', m.s, m.o)) again.push(`${m.s}:${w.window.start}-${w.window.end}`);
    // Same grid (every window is one of the uninterrupted run's), nothing lost, and no
    // window scored before the crash is scored again.
    for (const k of again) expect(all.has(k)).toBe(true);
    expect(new Set([...scored, ...again])).toEqual(all);
    expect(again.filter((k) => scored.has(k))).toEqual([]);
  });

  it('only moved states are written again; 10,000 streams fit (no byte budget)', () => {
    const r = registry(20_000);
    for (let s = 0; s < 10_000; s++) feed(r, 'p0', `stream-${s}`, s);
    const c = r.commits().get('p0')!;
    expect(c.changes).toHaveLength(10_000);
    r.lane('p0').markWritten(c.changes);
    expect(r.commits().get('p0')!.changes).toEqual([]);
    // More steps do not move stream-7's position until its next window is done.
    const ws = [10_000, 10_001, 10_002].flatMap((o) => feed(r, 'p0', 'stream-7', o));
    expect(ws).toHaveLength(1);
    expect(r.commits().get('p0')!.changes).toEqual([]);
    r.complete(ws[0]);
    const moved = r.commits().get('p0')!.changes;
    expect(moved.map((x) => x.stream)).toEqual(['stream-7']);
    expect(decodeState(moved[0].value)).toMatchObject({ i: 2, o: 10_001, k: 0 });
  });

  it('state records round-trip and garbage is refused; old commit metadata is still read (migration)', () => {
    const s = { i: 16, o: 40, k: 0, t: 1_700_000_000_123.5, f: 2, r: 44, a: 1_700_000_000_000 };
    expect(decodeState(encodeState(s))).toEqual(s);
    expect(decodeState(encodeState({ i: 0, o: 3, k: 1, r: 2, a: 5 }))).toEqual({ i: 0, o: 3, k: 1, r: 2, a: 5 });
    for (const bad of ['not json', '{"v":1,"i":0}', '{"v":2,"i":-5,"o":0,"k":0,"r":0,"a":0}', '', null]) expect(decodeState(bad)).toBeNull();
    expect(decodeResume('{"v":1,"s":{"a":[4,0,8]}}').get('a')).toEqual({ o: 4, k: 0, i: 8 });
    expect(decodeResume('not json').size).toBe(0);
    expect(decodeResume('{"v":2,"s":{}}').size).toBe(0);
  });
});
