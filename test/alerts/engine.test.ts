import { describe, expect, it } from 'vitest';
import { AlertEngine, alertFingerprint, lowerThreshold, tailRatio } from '../../src/alerts/engine.js';
import type { AlertEvent } from '../../src/alerts/types.js';
import type { ScoreEvent } from '../../src/scoring/types.js';

const THR = 0.99;

class Feed {
  i = 0;
  constructor(readonly stream = 's1') {}
  ev(score: number, top: string[] = ['a', 'b', 'c'], threshold = THR): ScoreEvent {
    const start = this.i * 10;
    this.i++;
    return {
      stream: this.stream,
      start,
      end: start + 63,
      startTs: 1_700_000_000_000 + start * 1000,
      endTs: 1_700_000_000_000 + (start + 63) * 1000,
      raw: score * 2,
      score,
      threshold,
      anomaly: score >= threshold,
      topChannels: top,
      channelErrors: [],
      modelVersion: 'v1',
    };
  }
}

function makeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function run(engine: AlertEngine, feed: Feed, scores: number[]): AlertEvent[] {
  return engine.processBatch(scores.map((s) => feed.ev(s)));
}

const HI = 0.999; // 10x rarer than the threshold's tail
const MID = 0.993; // above threshold, below critical
const BETWEEN = 0.985; // below threshold, above the lower threshold (0.98)
const LO = 0.5;

describe('alert engine helpers', () => {
  it('uses tail-probability ratios on the calibrated scale', () => {
    expect(tailRatio(0.999, 0.99)).toBeCloseTo(10, 6);
    expect(tailRatio(0.99, 0.99)).toBeCloseTo(1, 9);
    expect(lowerThreshold(0.99, 2)).toBeCloseTo(0.98, 12);
    expect(lowerThreshold(0.99, 1)).toBeCloseTo(0.99, 12);
    expect(lowerThreshold(0.3, 5)).toBe(0);
  });

  it('fingerprints by alertname and stream', () => {
    expect(alertFingerprint('A', 's1')).toBe(alertFingerprint('A', 's1'));
    expect(alertFingerprint('A', 's1')).not.toBe(alertFingerprint('A', 's2'));
    expect(alertFingerprint('A', 's1')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('rejects inconsistent options', () => {
    expect(() => new AlertEngine({ n: 4, m: 3 })).toThrow(RangeError);
    expect(() => new AlertEngine({ resolveRatio: 0.5 })).toThrow(RangeError);
  });
});

describe('AlertEngine', () => {
  it('fires on N of the last M windows, not before', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 3, m: 5, cooldownMs: 0 }, clock.now);
    const f = new Feed();
    expect(run(e, f, [MID, LO, MID, LO, LO])).toEqual([]); // windows 0-4: 2 of 5
    expect(run(e, f, [MID, LO, MID])).toEqual([]); // windows 3-7: LO LO MID LO MID, 2 of 5
    const out = run(e, f, [MID]); // windows 4-8: LO MID LO MID MID, 3 of 5
    expect(out).toHaveLength(1);
    const a = out[0];
    expect(a.status).toBe('firing');
    expect(a.reason).toBe('n_of_m');
    expect(a.severity).toBe('warning');
    expect(a.stream).toBe('s1');
    expect(a.modelVersion).toBe('v1');
    expect(a.windowsAbove).toBe(3);
    expect(a.startsAt).toBe(clock.now());
    expect(a.endsAt).toBeUndefined();
    // First above-threshold window inside the last 5 is window 5; the last window is 8.
    expect(a.firstWindow.start).toBe(50);
    expect(a.firstWindow.startTs).toBe(1_700_000_000_000 + 50 * 1000);
    expect(a.lastWindow.start).toBe(80);
    expect(a.lastWindow.endTs).toBe(1_700_000_000_000 + 143 * 1000);
    expect(a.peakScore).toBe(MID);
    expect(a.topChannels).toEqual(['a', 'b', 'c']);
    expect(e.state('s1')?.phase).toBe('firing');
  });

  it('resolves after R consecutive windows below the lower threshold only (hysteresis)', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 2, m: 3, resolveWindows: 3, resolveRatio: 2, cooldownMs: 0 }, clock.now);
    const f = new Feed();
    expect(run(e, f, [MID, MID])).toHaveLength(1);
    // Below the threshold but above the lower one: never resolves.
    expect(run(e, f, Array(20).fill(BETWEEN))).toEqual([]);
    // Two below, then one between: the streak restarts.
    expect(run(e, f, [LO, LO, BETWEEN, LO, LO])).toEqual([]);
    clock.advance(5000);
    const out = run(e, f, [LO]);
    expect(out).toHaveLength(1);
    expect(out[0].status).toBe('resolved');
    expect(out[0].reason).toBe('recovered');
    expect(out[0].endsAt).toBe(clock.now());
    expect(out[0].lastScore).toBe(LO);
    expect(out[0].peakScore).toBe(MID);
    expect(out[0].windowsAbove).toBe(2);
    expect(e.state('s1')?.phase).toBe('ok');
  });

  it('does not flap on a stream oscillating around the threshold', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 3, m: 5, resolveWindows: 3, cooldownMs: 0 }, clock.now);
    const f = new Feed();
    const events: AlertEvent[] = [];
    // Alternate just above and just below the threshold (and sometimes well below), 300 windows.
    for (let i = 0; i < 300; i++) {
      const s = i % 2 === 0 ? 0.991 : i % 6 === 1 ? 0.9 : 0.989;
      events.push(...e.process(f.ev(s)));
      clock.advance(1000);
    }
    expect(events.filter((a) => a.status === 'firing')).toHaveLength(1);
    expect(events.filter((a) => a.status === 'resolved')).toHaveLength(0);
    // A naive per-window alert would have toggled 299 times; a stable fall resolves once.
    const after = run(e, f, [LO, LO, LO, LO, LO]);
    expect(after.map((a) => a.status)).toEqual(['resolved']);
  });

  it('honours the cooldown after a resolve (clock and windows)', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 2, m: 2, resolveWindows: 1, cooldownMs: 60_000, cooldownWindows: 3 }, clock.now);
    const f = new Feed();
    expect(run(e, f, [HI, HI]).map((a) => a.status)).toEqual(['firing']);
    expect(run(e, f, [LO]).map((a) => a.status)).toEqual(['resolved']);
    // Within both cooldowns: no firing even though 2 of 2 are above.
    expect(run(e, f, [HI, HI, HI, HI])).toEqual([]);
    expect(e.state('s1')?.phase).toBe('cooldown');
    // Windows cooldown is over now, the clock one is not.
    expect(run(e, f, [HI])).toEqual([]);
    clock.advance(60_001);
    const out = run(e, f, [HI]);
    expect(out.map((a) => a.status)).toEqual(['firing']);
    expect(out[0].episode).toBe(2);
    expect(out[0].fingerprint).toBe(alertFingerprint('NoisefloorAnomaly', 's1'));
  });

  it('suppresses alerts during warm-up and does not count warm-up windows', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 2, m: 3, warmupWindows: 5 }, clock.now);
    const f = new Feed();
    expect(run(e, f, [HI, HI, HI, HI, HI])).toEqual([]);
    expect(e.state('s1')?.phase).toBe('warmup');
    // The first counted window: only 1 of 3 so far.
    expect(run(e, f, [HI])).toEqual([]);
    expect(run(e, f, [HI])).toHaveLength(1);
  });

  it('grades severity by tail ratio and escalates once while firing', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 2, m: 3, criticalRatio: 10, cooldownMs: 0 }, clock.now);
    const f = new Feed();
    const fired = run(e, f, [MID, MID]);
    expect(fired[0].severity).toBe('warning');
    const esc = run(e, f, [0.9995, 0.9999]);
    expect(esc).toHaveLength(1);
    expect(esc[0]).toMatchObject({ status: 'firing', reason: 'escalated', severity: 'critical', peakScore: 0.9995 });
    expect(esc[0].startsAt).toBe(fired[0].startsAt);
    expect(e.firing()).toHaveLength(1);
    expect(e.firing()[0].peakScore).toBe(0.9999);
    // Firing straight away at critical.
    const g = new Feed('s2');
    expect(run(e, g, [HI, HI])[0].severity).toBe('critical');
  });

  it('ranks top channels over the episode', () => {
    const e = new AlertEngine({ n: 2, m: 3 }, makeClock().now);
    const f = new Feed();
    e.process(f.ev(MID, ['x', 'y', 'z']));
    const out = e.process(f.ev(MID, ['y', 'z', 'x']));
    expect(out[0].topChannels).toEqual(['y', 'x', 'z']); // y: 2+3, x: 3+1, z: 1+2 (ties keep first seen)
    e.process(f.ev(MID, ['z', 'q']));
    expect(e.firing()[0].topChannels).toEqual(['z', 'y', 'x']);
  });

  it('keeps streams independent', () => {
    const e = new AlertEngine({ n: 2, m: 2 }, makeClock().now);
    const a = new Feed('a');
    const b = new Feed('b');
    expect(e.processBatch([a.ev(HI), b.ev(LO), a.ev(LO), b.ev(HI), b.ev(HI)]).map((x) => x.stream)).toEqual(['b']);
  });

  it('resolves stale streams on sweep and on reset', () => {
    const clock = makeClock();
    const e = new AlertEngine({ n: 1, m: 1, staleMs: 10_000 }, clock.now);
    const f = new Feed('a');
    expect(run(e, f, [HI])).toHaveLength(1);
    clock.advance(5000);
    expect(e.sweep()).toEqual([]);
    clock.advance(6000);
    const swept = e.sweep();
    expect(swept.map((x) => [x.status, x.reason])).toEqual([['resolved', 'stale']]);
    expect(e.state('a')).toBeUndefined();
    const g = new Feed('b');
    run(e, g, [HI]);
    expect(e.reset('b').map((x) => x.reason)).toEqual(['reset']);
    expect(e.reset('b')).toEqual([]);
  });
});
