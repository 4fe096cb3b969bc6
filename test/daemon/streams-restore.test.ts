/**
 * Window grid across restarts, rebalances and bad messages (pure logic, no broker): the
 * commit point and resume metadata of streams.ts, exercised the way kafka-source.ts uses them.
 */
import { describe, expect, it } from 'vitest';
import { StreamRegistry, decodeResume, type TrackedWindow } from '../../src/daemon/streams.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Msg {
  stream: string | null; // null: undecodable (rejected, dead-lettered)
  step: number;
}

/**
 * One partition read by a consumer that scores windows in FIFO order, commits now and then,
 * and is rebalanced now and then: state dropped, windows in flight still scored and emitted
 * (but no longer counted), re-read from the last commit with its resume metadata.
 * Returns the window ends (step numbers) emitted per stream.
 */
function simulate(seed: number, spec: { length: number; hop: number }, metadataBytes = 4000): { msgs: Msg[]; ends: Map<string, number[]> } {
  const rand = rng(seed);
  const msgs: Msg[] = [];
  const count: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 150; i++) {
    if (rand() < 0.05) msgs.push({ stream: null, step: -1 });
    else {
      const s = ['a', 'b', 'c'][Math.floor(rand() * 3)];
      msgs.push({ stream: s, step: count[s]++ });
    }
  }
  const make = () => new StreamRegistry({ ...spec, channels: 1 }, { maxStreams: 100, idleTimeoutMs: 0 });
  let r = make();
  let pos = 0;
  const queue: TrackedWindow[] = [];
  let holds: number[] = [];
  let commit: { offset: number; metadata: string } | null = null;
  const ends = new Map<string, number[]>();
  for (let guard = 0; pos < msgs.length || queue.length; guard++) {
    if (guard > 100_000) throw new Error('no progress');
    const x = rand();
    if (x < 0.5 && pos < msgs.length) {
      const m = msgs[pos];
      if (m.stream === null) {
        r.lane('p').advance(pos);
        r.lane('p').hold(pos);
        holds.push(pos);
      } else {
        const res = r.ingest('p', m.stream, pos, [Float64Array.of(m.step)], 1000 * m.step, 0, 0);
        if (res.kind === 'ok') queue.push(...res.windows);
      }
      pos++;
    } else if (x < 0.8 && queue.length) {
      const w = queue.shift()!;
      ends.set(w.slot.stream, [...(ends.get(w.slot.stream) ?? []), (w.window.endTs as number) / 1000]);
      r.complete(w);
    } else if (x < 0.87 && holds.length) {
      r.lane('p').release(holds.shift()!);
    } else if (x < 0.95) {
      commit = r.commits(metadataBytes).get('p') ?? commit;
    } else if (x < 0.97) {
      r.dropAll();
      holds = [];
      r = make();
      r.restore('p', decodeResume(commit?.metadata), 0);
      pos = commit?.offset ?? 0;
    }
  }
  return { msgs, ends };
}

describe('window grid across rebalances and restores', () => {
  for (const spec of [
    { length: 8, hop: 2 },
    { length: 4, hop: 4 },
    { length: 3, hop: 5 },
  ]) {
    it(`W=${spec.length} H=${spec.hop}: every window on the grid, none lost (random commits, rebalances, dead letters)`, () => {
      for (let seed = 1; seed <= 400; seed++) {
        const { msgs, ends } = simulate(seed, spec);
        for (const s of ['a', 'b', 'c']) {
          const n = msgs.filter((m) => m.stream === s).length;
          const want = new Set<number>();
          for (let e = spec.length - 1; e < n; e += spec.hop) want.add(e);
          const got = ends.get(s) ?? [];
          const off = got.filter((e) => !want.has(e));
          expect(off, `seed ${seed} stream ${s}: off-grid windows`).toEqual([]);
          expect(new Set(got), `seed ${seed} stream ${s}`).toEqual(want);
        }
      }
    });
  }
});

describe('duplicated input (the serve-kafka (e) flake)', () => {
  it('a partition whose first record batch was appended three times restarts its streams: windows end at steps 4, 12, 20, ...', () => {
    // Partition 1 of test (e): m1 and m4 interleaved, steps 0-82 in the first 500-message
    // produce request (with one empty and one non-object message), appended three times by
    // kafkajs's retries of that request, then the rest once.
    const r = new StreamRegistry({ length: 32, hop: 8, channels: 1 }, { maxStreams: 100, idleTimeoutMs: 0 });
    const T0 = Date.UTC(2024, 0, 1);
    const first: number[] = [];
    for (let t = 0; t < 83; t++) first.push(t);
    const steps = [...first, ...first, ...first, ...Array.from({ length: 117 }, (_, i) => 83 + i)];
    const windows: { end: number; endStep: number }[] = [];
    steps.forEach((t, o) => {
      const res = r.ingest('p1', 'm1', o, [Float64Array.of(t)], T0 + t * 1000, 0, 0);
      if (res.kind === 'ok') for (const w of res.windows) windows.push({ end: w.window.end, endStep: ((w.window.endTs as number) - T0) / 1000 });
    });
    // The first 7 windows are on the grid; from row 87 (the 5th step of the 2nd copy) the
    // window ends are the CI run's "impossible" ones.
    expect(windows.slice(0, 7).map((w) => w.endStep)).toEqual([31, 39, 47, 55, 63, 71, 79]);
    expect(windows.slice(7, 13)).toEqual([
      { end: 87, endStep: 4 },
      { end: 95, endStep: 12 },
      { end: 103, endStep: 20 },
      { end: 111, endStep: 28 },
      { end: 119, endStep: 36 },
      { end: 127, endStep: 44 },
    ]);
  });
});
