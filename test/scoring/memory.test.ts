import { describe, expect, it } from 'vitest';
import { StreamMemories, StreamMemory, WindowMemory } from '../../src/scoring/memory.js';
import { calibratedSurprise, fuseSurprises, ResidualStatistic } from '../../src/scoring/fusion.js';
import { calibrate, exceedanceProbability, log10Exceedance, rawThreshold, type Calibration } from '../../src/scoring/calibration.js';
import { StreamMemoryFusion } from '../../src/scoring/stream-fusion.js';
import type { ScoreEvent } from '../../src/scoring/types.js';
import type { Window } from '../../src/ingest/types.js';
import { Rng } from '../../src/util/rng.js';
import { aucRoc } from '../../src/eval/metrics.js';
import { ANOMALY_KINDS, generateSeries, type InjectedAnomaly } from '../../src/ingest/synthetic.js';

function sineWindows(n: number, length: number, rng: Rng, noise = 0.05): Float32Array[] {
  const out: Float32Array[] = [];
  for (let k = 0; k < n; k++) {
    const w = new Float32Array(length);
    for (let i = 0; i < length; i++) w[i] = Math.sin((2 * Math.PI * (k + i)) / 16) + noise * rng.normal();
    out.push(w);
  }
  return out;
}

/** The score written out in doubles, straight from the definition. */
function bruteForce(stored: Float32Array[], mean: number[], std: number[], x: Float32Array, sigmas: number[]): number {
  const z = (w: Float32Array) => Array.from(w, (v, f) => (v - mean[f]) / std[f]);
  const xs = z(x);
  const d2 = stored.map((m) => z(m).reduce((s, v, f) => s + (xs[f] - v) ** 2, 0));
  let total = 0;
  for (const s of sigmas) {
    const terms = d2.map((d) => -d / (2 * s * s));
    const top = Math.max(...terms);
    const lse = top + Math.log(terms.reduce((a, t) => a + Math.exp(t - top), 0));
    total += s * s * -(lse - Math.log(stored.length));
  }
  return total;
}

function stats(ws: Float32Array[]): { mean: number[]; std: number[] } {
  const D = ws[0].length;
  const mean = Array.from({ length: D }, (_, f) => ws.reduce((a, w) => a + w[f], 0) / ws.length);
  const std = Array.from({ length: D }, (_, f) => Math.sqrt(ws.reduce((a, w) => a + (w[f] - mean[f]) ** 2, 0) / ws.length));
  return { mean, std };
}

describe('WindowMemory (empirical denoiser)', () => {
  const rng = new Rng(3);
  const train = sineWindows(200, 16, rng);

  it('computes the diffusion-smoothed density score of its definition', () => {
    const mem = WindowMemory.fit(train, train.map((_, i) => i), { capacity: 500 });
    const { mean, std } = stats(train);
    const probes = [...sineWindows(3, 16, new Rng(9)), Float32Array.from(train[5], (v) => v + 0.7)];
    for (const x of probes) expect(mem.score(x)).toBeCloseTo(bruteForce(train, mean, std, x, [0.5, 1, 2]), 3);
    expect(mem.size).toBe(200);
    expect(mem.flopsPerScore).toBeGreaterThan(200 * 16);
  });

  it('ranks a shifted or a spiked window above normal ones', () => {
    const mem = WindowMemory.fit(train, train.map((_, i) => i), { capacity: 500 });
    const normal = sineWindows(50, 16, new Rng(11)).map((w) => mem.score(w));
    const shifted = Float32Array.from(train[7], (v) => v + 0.5);
    const spiked = Float32Array.from(train[9]);
    spiked[15] += 3;
    expect(mem.score(shifted)).toBeGreaterThan(Math.max(...normal));
    expect(mem.score(spiked)).toBeGreaterThan(Math.max(...normal));
  });

  it('keeps evenly spaced windows beyond capacity; static refuses inserts, fifo replaces the oldest', () => {
    const still = WindowMemory.fit(train, train.map((_, i) => i), { capacity: 50 });
    expect(still.size).toBe(50);
    expect(still.insert(train[0], 1000)).toBe(false);

    const ring = WindowMemory.fit(train.slice(0, 4), [0, 1, 2, 3], { capacity: 4, replacement: 'fifo' });
    const far = Float32Array.from(train[0], (v) => v + 5);
    const before = ring.score(train[0]);
    // Four far-away windows push out all four originals, oldest first.
    for (let i = 0; i < 4; i++) expect(ring.insert(far, 10 + i)).toBe(true);
    expect(ring.size).toBe(4);
    expect(ring.inserted).toBe(4);
    expect(ring.score(far)).toBeLessThan(1e-6);
    expect(ring.score(train[0])).toBeGreaterThan(before + 10);
  });

  it('leaves out stored windows whose position lies in the exclusion range', () => {
    const mem = WindowMemory.fit(train, train.map((_, i) => i), { capacity: 500 });
    const { mean, std } = stats(train);
    const others = train.filter((_, i) => i !== 100);
    // The mixture over the others, still normalised by the whole memory (an excluded window contributes nothing).
    const renormalised = [0.5, 1, 2].reduce((a, s) => a + s * s * Math.log(train.length / others.length), 0);
    expect(mem.score(train[100], { from: 100, to: 100 })).toBeCloseTo(bruteForce(others, mean, std, train[100], [0.5, 1, 2]) + renormalised, 3);
    expect(mem.score(train[100], { from: 100, to: 100 })).toBeGreaterThan(mem.score(train[100]));
    expect(Number.isNaN(mem.score(train[100], { from: 0, to: 1e9 }))).toBe(true);
  });

  it('denoises to the nearest stored window at small sigma and to the mean at large sigma', () => {
    const mem = WindowMemory.fit(train, train.map((_, i) => i), { capacity: 500 });
    const x = Float32Array.from(train[42], (v) => v + 0.01);
    const near = mem.denoise(x, 0.01, new Float32Array(16));
    for (let f = 0; f < 16; f++) expect(near[f]).toBeCloseTo(train[42][f], 4);
    const far = mem.denoise(x, 1e4, new Float32Array(16));
    const { mean } = stats(train);
    for (let f = 0; f < 16; f++) expect(far[f]).toBeCloseTo(mean[f], 3);
  });

  it('rejects windows of another size', () => {
    const mem = WindowMemory.fit(train, train.map((_, i) => i), { capacity: 10 });
    expect(() => mem.score(new Float32Array(8))).toThrow(/8 values/);
  });
});

describe('fusion of calibrated surprises', () => {
  it('takes the largest surprise with a Bonferroni correction', () => {
    expect(fuseSurprises([1, 5, 2])).toBeCloseTo(5 - Math.log10(3), 12);
    expect(fuseSurprises([0.1, 0.2])).toBe(0);
    expect(fuseSurprises([4])).toBe(4);
  });

  it('calibrated surprise is about exponential for normal values and large for extreme ones', () => {
    const rng = new Rng(5);
    const normal = Array.from({ length: 5000 }, () => Math.abs(rng.normal()));
    const cal = calibrate(normal, 0.001, 0.9);
    const fresh = Array.from({ length: 5000 }, () => calibratedSurprise(cal, Math.abs(rng.normal())));
    // P(surprise >= 2) = 0.01 for a calibrated statistic.
    const rate = fresh.filter((s) => s >= 2).length / fresh.length;
    expect(rate).toBeGreaterThan(0.003);
    expect(rate).toBeLessThan(0.03);
    expect(calibratedSurprise(cal, 8)).toBeGreaterThan(4);
  });

  /** A calibration of 1000 held-out scores with a given GPD tail beyond the 90 % quantile. */
  function withTail(sigma: number, xi: number): Calibration {
    const rng = new Rng(11);
    const cal = calibrate(Array.from({ length: 1000 }, () => Math.abs(rng.normal())), 0.001, 0.9);
    cal.tail = { ...cal.tail!, sigma, xi };
    cal.thresholdRaw = rawThreshold(cal, cal.targetFalseAlarmRate);
    return cal;
  }

  for (const xi of [-0.3, 0, 0.3]) {
    it(`surprises keep the order of raw scores far in the tail, without ties or a cap (xi ${xi})`, () => {
      const cal = withTail(0.4, xi);
      const u = cal.tail!.u;
      // From the threshold to far past a bounded tail's end (u + sigma / 0.3 = u + 1.33) and
      // past where the tail probability underflows (1 - score == 1 from ~1e-16 on).
      const raws = Array.from({ length: 400 }, (_, i) => cal.thresholdRaw + 0.01 * 1.05 ** i);
      const s = raws.map((r) => calibratedSurprise(cal, r));
      for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
      expect(s.every(Number.isFinite)).toBe(true);
      expect(Math.max(...s)).toBeGreaterThan(xi > 0 ? 20 : 100);
      // Where the probability is representable the surprise is -log10 of it.
      for (const r of raws.filter((r) => exceedanceProbability(cal, r) > 1e-300)) expect(calibratedSurprise(cal, r)).toBeCloseTo(-Math.log10(exceedanceProbability(cal, r)), 9);
      // The flag's threshold is unchanged: surprise at thresholdRaw is -log10 of the target.
      expect(calibratedSurprise(cal, cal.thresholdRaw)).toBeCloseTo(3, 9);
      expect(log10Exceedance(cal, u)).toBeCloseTo(Math.log10(exceedanceProbability(cal, u)), 12);
      // Past the threshold 1 - score has rounded to exactly 0 long before the end of the list.
      expect(1 - (1 - exceedanceProbability(cal, raws[raws.length - 1]))).toBe(0);
    });
  }

  it('fusion keeps the order of a part whose surprises dominate, beyond any former cap', () => {
    const cal = withTail(0.4, -0.3);
    const raws = Array.from({ length: 200 }, (_, i) => cal.thresholdRaw + 0.05 * (i + 1));
    const fused = raws.map((r, i) => fuseSurprises([calibratedSurprise(cal, r), 5 + (i % 3)]));
    for (let i = 1; i < fused.length; i++) if (calibratedSurprise(cal, raws[i - 1]) > 8) expect(fused[i]).toBeGreaterThan(fused[i - 1]);
    expect(fused[fused.length - 1]).toBeGreaterThan(12);
    // The flag at the target is the part's own where it decides: fused >= 3 exactly when max - log10 2 >= 3.
    expect(fuseSurprises([calibratedSurprise(cal, cal.thresholdRaw), 0])).toBeCloseTo(3 - Math.log10(2), 9);
  });

  it('the pooled residual statistic separates a steady shift the squared error barely sees', () => {
    const rng = new Rng(8);
    // Two channels; per window the mean residual of 32 steps of unit noise.
    const ref: number[] = [];
    for (let i = 0; i < 2000; i++) for (let c = 0; c < 2; c++) ref.push(mean32(rng, 0));
    const stat = ResidualStatistic.fit(ref, 2, 0.001, 0.9);
    const normal = Array.from({ length: 200 }, () => stat.surprise([mean32(rng, 0), mean32(rng, 0)]));
    const shifted = Array.from({ length: 200 }, () => stat.surprise([mean32(rng, 0), mean32(rng, 1)]));
    expect(normal.filter((s) => s >= 3).length).toBeLessThan(5);
    expect(shifted.filter((s) => s >= 3).length).toBeGreaterThan(190);
  });
});

function mean32(rng: Rng, shift: number): number {
  let s = 0;
  for (let i = 0; i < 32; i++) s += rng.normal() + shift;
  return s / 32;
}

/** Channel-major windows of `length` rows every `hop` rows, as the windower cuts them. */
function cut(rows: Float64Array[], length: number, hop: number): { data: Float32Array; start: number; end: number }[] {
  const C = rows[0].length;
  const out: { data: Float32Array; start: number; end: number }[] = [];
  for (let s = 0; s + length <= rows.length; s += hop) {
    const data = new Float32Array(C * length);
    for (let c = 0; c < C; c++) for (let i = 0; i < length; i++) data[c * length + i] = rows[s + i][c];
    out.push({ data, start: s, end: s + length - 1 });
  }
  return out;
}

describe('window memory on the synthetic anomaly kinds', () => {
  const normal = cut(generateSeries(5000, { seed: 1 }), 32, 4);
  const memory = WindowMemory.fit(
    normal.map((w) => w.data),
    normal.map((w) => w.end),
    { capacity: 1000 },
  );
  it.each(ANOMALY_KINDS)('ranks windows with an injected %s anomaly above normal ones (AUC >= 0.95)', (kind) => {
    const anomaly: InjectedAnomaly = { kind, start: 600, end: kind === 'spike' ? 600 : 680, channel: 1 };
    const windows = cut(generateSeries(1200, { seed: 11, phase: 5 }, [anomaly]), 32, 4);
    const labels = windows.map((w) => (w.end < anomaly.start || w.start > anomaly.end ? 0 : 1));
    expect(aucRoc(windows.map((w) => memory.score(w.data)), labels)).toBeGreaterThanOrEqual(0.95);
  });
});

describe('StreamMemory (insertion policy)', () => {
  const rng = new Rng(4);
  const base = sineWindows(50, 16, rng);
  it('inserts a window once it no longer overlaps the newest one, and never a flagged one', () => {
    const memory = WindowMemory.fit(base, base.map((_, i) => i), { capacity: 60, replacement: 'fifo' });
    const stream = new StreamMemory(memory, (s) => s, { windowLength: 16, insertEvery: 1, insertBelowSurprise: 3 });
    const w = sineWindows(40, 16, rng);
    // Windows ending at rows 100..139; the ones ending at 110 and 111 were flagged.
    for (let i = 0; i < 40; i++) stream.observe(w[i], 100 + i, i === 10 || i === 11 ? 5 : 0);
    // Candidates: ends 100..123 (<= 139 - 16); two of them flagged.
    expect(memory.inserted).toBe(24 - 2);
    expect(memory.size).toBe(60);
  });

  it('a static memory learns nothing while streaming', () => {
    const memory = WindowMemory.fit(base, base.map((_, i) => i), { capacity: 60 });
    const stream = new StreamMemory(memory, (s) => s, { windowLength: 16, insertEvery: 1, insertBelowSurprise: 3 });
    for (const [i, x] of sineWindows(40, 16, rng).entries()) stream.observe(x, 100 + i, 0);
    expect(memory.inserted).toBe(0);
    expect(memory.size).toBe(50);
  });
});

describe('StreamMemories (per-stream state for serve)', () => {
  const opts = {
    memory: { capacity: 100, replacement: 'fifo' as const },
    policy: { windowLength: 16, insertEvery: 1, insertBelowSurprise: 3 },
    warmupWindows: 120,
    maxStreams: 2,
    targetFalseAlarmRate: 0.001,
    tailQuantile: 0.9,
  };

  it('warms up on the stream itself, then scores; a shifted window is surprising', () => {
    const mems = new StreamMemories(opts);
    const ws = sineWindows(200, 16, new Rng(21));
    for (let i = 0; i < 120; i++) {
      expect(Number.isNaN(mems.surprise('a', ws[i]))).toBe(true);
      mems.observe('a', ws[i], i, 0);
    }
    const normal = ws.slice(120).map((w) => mems.surprise('a', w));
    expect(normal.every(Number.isFinite)).toBe(true);
    expect(normal.filter((s) => s >= 3).length).toBeLessThanOrEqual(2);
    expect(mems.surprise('a', Float32Array.from(ws[150], (v) => v + 1.5))).toBeGreaterThan(3);
  });

  it('keeps at most maxStreams streams (least recently used dropped) and reports the bytes held', () => {
    const mems = new StreamMemories(opts);
    const ws = sineWindows(130, 16, new Rng(22));
    for (const s of ['a', 'b']) for (let i = 0; i < 130; i++) mems.observe(s, ws[i], i, 0);
    const full = mems.bytes;
    expect(full).toBeGreaterThan(2 * 100 * 16 * 4);
    mems.surprise('a', ws[0]);
    mems.observe('c', ws[0], 0, 0);
    expect(mems.streamCount).toBe(2);
    expect(mems.droppedStreams).toBe(1);
    // 'b' was the least recently used: it starts over (warming up again).
    expect(Number.isNaN(mems.surprise('b', ws[0]))).toBe(true);
    // ...and coming back pushed out 'a', the least recently used by then.
    expect(mems.droppedStreams).toBe(2);
    expect(Number.isNaN(mems.surprise('a', ws[0]))).toBe(true);
  });

  it('keeps the bytes held within maxBytes (least recently used dropped); the total is exact; forget frees a stream', () => {
    const ws = sineWindows(130, 16, new Rng(23));
    const one = new StreamMemories({ ...opts, maxStreams: 10 });
    for (let i = 0; i < 130; i++) one.observe('a', ws[i], i, 0);
    const perStream = one.bytes;
    expect(one.readyCount).toBe(1);
    // Room for two built memories and a little warm-up.
    const mems = new StreamMemories({ ...opts, maxStreams: 10, maxBytes: 2 * perStream + 5000 });
    for (const s of ['a', 'b']) for (let i = 0; i < 130; i++) mems.observe(s, ws[i], i, 0);
    expect(mems.bytes).toBe(2 * perStream);
    expect(mems.droppedStreams).toBe(0);
    // 'c' warming up grows past the budget: 'a', the least recently used, goes; 'b' stays.
    for (let i = 0; i < 110; i++) mems.observe('c', ws[i], i, 0);
    expect(mems.droppedStreams).toBe(1);
    expect(mems.bytes).toBeLessThanOrEqual(2 * perStream + 5000);
    expect(mems.readyCount).toBe(1);
    expect(mems.streamCount).toBe(2);
    expect(Number.isFinite(mems.surprise('b', ws[0]))).toBe(true);
    mems.forget(['b', 'c', 'nope']);
    expect(mems.bytes).toBe(0);
    expect(mems.streamCount).toBe(0);
    expect(mems.readyCount).toBe(0);
  });
});

describe('StreamMemoryFusion (the memory in serve scoring)', () => {
  const W = 16;
  const windowOf = (stream: string, data: Float32Array, end: number): Window => ({ stream, channels: 1, length: W, data, start: end - W + 1, end, missing: 0 });
  const eventOf = (w: Window, raw: number): ScoreEvent => ({ stream: w.stream, start: w.start, end: w.end, raw, score: 0.5, threshold: 0.999, anomaly: false, topChannels: [], channelErrors: [], modelVersion: 'v' });
  // The network part: raw scores ~ Exponential(1) on normal data, calibrated at 0.1 %.
  const rng = new Rng(5);
  const networkCal = calibrate(
    Array.from({ length: 5000 }, () => -Math.log(1 - rng.next())),
    0.001,
    0.9,
  );

  it('leaves events alone while warming up, then fuses: an anomaly only the memory sees is flagged; the network flag still counts', () => {
    const fusion = new StreamMemoryFusion({
      memory: { capacity: 200, replacement: 'fifo' },
      policy: { windowLength: W, insertEvery: 1, insertBelowSurprise: 3 },
      warmupWindows: 150,
      maxStreams: 10,
      targetFalseAlarmRate: 0.001,
      tailQuantile: 0.9,
    });
    const ws = sineWindows(400, W, new Rng(24));
    let k = 0;
    const batch = (datas: Float32Array[], raw: number) => {
      const windows = datas.map((d) => windowOf('s', d, W - 1 + k++));
      const events = windows.map((w) => eventOf(w, raw));
      fusion.apply(windows, events, networkCal);
      return events;
    };
    const warm = batch(ws.slice(0, 150), 1);
    expect(warm.every((e) => e.score === 0.5 && e.parts?.memory === null)).toBe(true);
    expect(fusion.stats()).toMatchObject({ ready: 1, warming: 0, dropped: 0 });
    expect(fusion.stats().bytes).toBeGreaterThan(150 * W * 4);
    // Normal windows, a normal network score: nothing flagged, score on the calibrated scale.
    const normal = batch(ws.slice(150, 300), 1);
    expect(normal.filter((e) => e.anomaly).length).toBeLessThanOrEqual(1);
    for (const e of normal) {
      expect(e.parts!.memory).not.toBeNull();
      expect(e.score).toBeCloseTo(1 - 10 ** -Math.max(0, Math.max(e.parts!.network, e.parts!.memory!) - Math.log10(2)), 3);
    }
    // Shifted windows with a normal network score: the memory alone flags them.
    const shifted = batch(ws.slice(300, 320).map((w) => Float32Array.from(w, (v) => v + 1.5)), 1);
    expect(shifted.every((e) => e.anomaly && e.parts!.memory! >= 3 && e.parts!.network < 3)).toBe(true);
    expect(shifted.every((e) => e.score >= 0.999)).toBe(true);
    // The event's surprise is the fused one, unrounded: score = 1 - 10^-surprise.
    for (const e of [...normal, ...shifted]) {
      expect(e.surprise).toBeCloseTo(Math.max(0, Math.max(e.parts!.network, e.parts!.memory!) - Math.log10(2)), 3);
      expect(e.score).toBeCloseTo(1 - 10 ** -e.surprise!, 12);
    }
    // A network score far in its tail still flags a window the memory finds normal.
    const loud = batch(ws.slice(320, 330), 12);
    expect(loud.every((e) => e.anomaly)).toBe(true);
    expect(-Math.log10(exceedanceProbability(networkCal, 12))).toBeGreaterThan(3 + Math.log10(2));
    fusion.forget(['s']);
    expect(fusion.stats()).toEqual({ bytes: 0, ready: 0, warming: 0, dropped: 0 });
  });

  it('does nothing for a model without a calibration', () => {
    const fusion = new StreamMemoryFusion({
      memory: { capacity: 10 },
      policy: { windowLength: W, insertEvery: 1, insertBelowSurprise: 3 },
      warmupWindows: 2,
      maxStreams: 10,
      targetFalseAlarmRate: 0.001,
      tailQuantile: 0.9,
    });
    const w = windowOf('s', new Float32Array(W), W - 1);
    const e = eventOf(w, 1);
    fusion.apply([w], [e], null);
    expect(e.parts).toBeUndefined();
    expect(fusion.stats().warming).toBe(0);
  });
});
