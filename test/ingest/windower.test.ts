import { describe, expect, it } from 'vitest';
import { StreamWindower } from '../../src/ingest/windower.js';
import { NormaliserFitter, normaliseWindow } from '../../src/ingest/normaliser.js';
import type { Window } from '../../src/ingest/types.js';

function feed(w: StreamWindower, n: number, value = (i: number, c: number) => i * 10 + c): Window[] {
  const out: Window[] = [];
  for (let i = 0; i < n; i++) {
    const win = w.push({ index: i, ts: 1000 + i, values: Float64Array.from({ length: w.spec.channels }, (_, c) => value(i, c)) });
    if (win) out.push(win);
  }
  return out;
}

describe('StreamWindower', () => {
  it('emits nothing during warm-up, then one window every hop, channel-major', () => {
    const w = new StreamWindower('s', { length: 4, hop: 2, channels: 2 });
    const wins = feed(w, 9);
    expect(wins.map((x) => [x.start, x.end])).toEqual([
      [0, 3],
      [2, 5],
      [4, 7],
    ]);
    expect(Array.from(wins[1].data)).toEqual([20, 30, 40, 50, 21, 31, 41, 51]);
    expect(wins[1].startTs).toBe(1002);
    expect(wins[1].endTs).toBe(1005);
  });

  it('flush adds a final window covering the tail, once', () => {
    const w = new StreamWindower('s', { length: 4, hop: 3, channels: 1 });
    const wins = feed(w, 9);
    expect(wins.map((x) => x.end)).toEqual([3, 6]);
    const last = w.flush();
    expect([last?.start, last?.end]).toEqual([5, 8]);
    expect(w.flush()).toBeNull();
  });

  it('forward-fills missing values and counts them; leading gaps stay NaN', () => {
    const w = new StreamWindower('s', { length: 4, hop: 4, channels: 1 });
    const vals = [Number.NaN, 1, Number.NaN, 3];
    const wins = feed(w, 4, (i) => vals[i]);
    expect(Number.isNaN(wins[0].data[0])).toBe(true);
    expect(Array.from(wins[0].data.slice(1))).toEqual([1, 1, 3]);
    expect(wins[0].missing).toBe(2);
  });
});

describe('normalisation', () => {
  it('robust normalisation uses median and IQR/1.349 and maps NaN to the centre', () => {
    const f = new NormaliserFitter(1);
    for (let i = 1; i <= 5; i++) f.add([i]);
    f.add([1000]);
    const p = f.fit('robust');
    expect(p.center[0]).toBe(3.5);
    // quartiles of 1,2,3,4,5,1000 (linear interpolation): 2.25 and 4.75
    expect(p.scale[0]).toBeCloseTo(2.5 / 1.349, 10);
    const out = normaliseWindow(p, Float32Array.from([3.5, Number.NaN, 3.5 + 2.5 / 1.349]), 3);
    expect(Array.from(out)).toEqual([0, 0, expect.closeTo(1, 5)]);
  });

  it('standard normalisation uses mean and standard deviation; a constant channel gets scale 1', () => {
    const f = new NormaliserFitter(2);
    for (const v of [2, 4, 4, 4, 5, 5, 7, 9]) f.add([v, 3]);
    const p = f.fit('standard');
    expect(p.center[0]).toBe(5);
    expect(p.scale[0]).toBeCloseTo(Math.sqrt(32 / 7), 10);
    expect(p.scale[1]).toBe(1);
  });
});
