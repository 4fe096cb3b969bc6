import { describe, expect, it } from 'vitest';
import { renderReport, summariseStream, flaggedRuns, mergeRanges, formatNumber, initiallyVisibleChannels } from '../../src/report/index.js';
import type { ReportStream } from '../../src/report/index.js';
import { InputError } from '../../src/util/errors.js';
import { syntheticClip, syntheticReport, syntheticStream } from './synthetic.js';

function payload(html: string): {
  streams: { x: string; ys: string[]; sx: string; flagged: [number, number][]; labels: [number, number][]; time: boolean; extent: [number, number]; heat?: unknown }[];
  clips: unknown[];
} {
  const m = /<script type="application\/json" id="nf-data">\n([^\n]*)\n<\/script>/.exec(html);
  if (!m) throw new Error('no payload');
  return JSON.parse(m[1]);
}

const f32 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
};
const f64 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};

function tinyStream(anomaly: number[]): ReportStream {
  const N = anomaly.length;
  return {
    name: 's',
    channels: ['a', 'b'],
    values: [new Float32Array(N * 10 + 10), new Float32Array(N * 10 + 10)],
    windows: {
      start: anomaly.map((_, i) => i * 10),
      end: anomaly.map((_, i) => i * 10 + 19),
      raw: anomaly.map((f) => (f ? 5 : 0.1)),
      score: anomaly.map((f) => (f ? 0.999 : 0.5)),
      anomaly: anomaly.map(Boolean),
      topChannel: anomaly.map((f, i) => (f ? (i === 5 ? 0 : 1) : 0)),
    },
    threshold: 0.99,
    alerts: [],
  };
}

describe('stream summary', () => {
  it('finds flagged runs and the longest one', () => {
    const s = tinyStream([0, 1, 1, 0, 1, 1, 1, 0, 0, 1]);
    const runs = flaggedRuns(s);
    expect(runs.map((r) => [r.firstWindow, r.lastWindow, r.start, r.end])).toEqual([
      [1, 2, 10, 39],
      [4, 6, 40, 79],
      [9, 9, 90, 109],
    ]);
    const sm = summariseStream(s);
    expect(sm.windows).toBe(10);
    expect(sm.flagged).toBe(6);
    expect(sm.longestRun?.firstWindow).toBe(4);
    expect(sm.topChannels).toEqual([
      { name: 'b', count: 5 },
      { name: 'a', count: 1 },
    ]);
    expect(sm.maxRaw).toBe(5);
  });

  it('merges overlapping and near ranges', () => {
    expect(mergeRanges([{ start: 50, end: 60 }, { start: 0, end: 10 }, { start: 12, end: 20 }, { start: 15, end: 30 }], 2)).toEqual([
      { start: 0, end: 30 },
      { start: 50, end: 60 },
    ]);
  });
});

describe('renderReport', () => {
  const input = syntheticReport({ rows: 30_000, timestamps: true, clips: 3 });
  const html = renderReport(input);

  it('is one self-contained document with no external references', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).toContain("default-src 'none'");
    // uPlot is inlined
    expect(html).toContain('uPlot');
    expect(html.match(/<\/html>/g)?.length).toBe(1);
  });

  it('shows model, metrics, summary and alerts', () => {
    expect(html).toContain('diffusion-ts-2024.05.1');
    expect(html).toContain('AUC-PR');
    expect(html).toContain('0.912');
    expect(html).toContain('Longest flagged run');
    expect(html).toContain('Alert 1');
    expect(html).toContain('2024-05-01 12:00:00 UTC');
    expect(html).toMatch(/data-zoom="[\d.e+]+,[\d.e+]+"/);
  });

  it('escapes names everywhere', () => {
    const evil = syntheticReport({ rows: 2000, clips: 1 });
    evil.title = '<img src=x onerror=alert(1)>';
    evil.streams![0].name = '</script><script>alert(1)</script>';
    evil.streams![0].channels[0] = '"><b>x';
    evil.clips![0].name = '<i>clip</i>';
    const h = renderReport(evil);
    expect(h).not.toContain('<img src=x');
    expect(h).not.toContain('<script>alert(1)');
    expect(h).not.toContain('"><b>x');
    expect(h).not.toContain('<i>clip</i>');
    expect(h).toContain('&lt;img src=x onerror=alert(1)&gt;');
    // the JSON payload still round-trips the raw name
    expect(payload(h).streams[0]).toMatchObject({ channels: ['"><b>x', 'pressure', 'vibration'] });
  });

  it('embeds downsampled data that keeps the injected spike, and shaded ranges in x units', () => {
    const p = payload(html);
    const s = p.streams[0];
    expect(s.time).toBe(true);
    const x = f64(s.x);
    expect(x.length).toBe(8000);
    expect(x[0]).toBe(Date.UTC(2024, 0, 1));
    const pressure = f32(s.ys[1]);
    const maxEmbedded = Math.max(...pressure);
    const maxInput = Math.max(...input.streams![0].values[1]);
    expect(maxEmbedded).toBe(maxInput);
    expect(s.flagged.length).toBeGreaterThan(0);
    const label = input.streams![0].labels![0];
    expect(s.labels).toEqual([[Date.UTC(2024, 0, 1) + label.start * 1000, Date.UTC(2024, 0, 1) + label.end * 1000]]);
    // the flagged range overlaps the labelled one
    expect(s.flagged.some(([a, b]) => a <= s.labels[0][1] && b >= s.labels[0][0])).toBe(true);
    expect(s.heat).toBeDefined();
  });

  it('ranks clips by score and draws at most maxClipDetails of them', () => {
    const clips = [syntheticClip('low', { abnormal: false }), syntheticClip('high', { abnormal: true }), syntheticClip('mid')];
    clips[2].score = 0.5;
    const h = renderReport({ ...syntheticReport({ rows: 500 }), clips }, { maxClipDetails: 2 });
    const order = [...h.matchAll(/<tr><td class="nf-num">(\d+)<\/td><td>(?:<a [^>]+>)?([a-z]+)/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(order).toEqual(['1:high', '2:mid', '3:low']);
    expect(payload(h).clips.length).toBe(2);
    expect(h).toContain('id="clip-1"');
    expect(h).not.toContain('id="clip-2"');
    expect(h).toContain('Drawing the 2 highest-scoring of 3 clips');
  });

  it('keeps the file small for a long stream', () => {
    const big = syntheticReport({ rows: 2_000_000, clips: 0 });
    const h = renderReport(big);
    expect(h.length).toBeLessThan(2_000_000);
    const s = payload(h).streams[0];
    expect(f32(s.ys[0]).length).toBe(8000);
    expect(f64(s.sx).length).toBe(8000);
  });

  it('rejects inconsistent shapes with an InputError naming the stream', () => {
    const bad = syntheticStream({ rows: 1000, name: 'broken' });
    bad.values[1] = new Float32Array(999);
    expect(() => renderReport({ ...syntheticReport({ rows: 100 }), streams: [bad] })).toThrow(InputError);
    expect(() => renderReport({ ...syntheticReport({ rows: 100 }), streams: [bad] })).toThrow(/"broken".*999 rows/);
    const clip = syntheticClip('c');
    clip.frameScores = new Float32Array(3);
    expect(() => renderReport({ ...syntheticReport({ rows: 100 }), clips: [clip] })).toThrow(/3 frame scores/);
  });

  it('renders with no streams and no clips', () => {
    const h = renderReport({ title: 'empty', generatedAt: 0, model: { version: 'v', window: 1, hop: 1, scoringMode: 'm', threshold: 0.5 } });
    expect(h).toContain('<h1>empty</h1>');
    expect(payload(h)).toEqual({ streams: [], clips: [] });
  });
});

describe('initiallyVisibleChannels', () => {
  it('draws all of a few channels, and the telling ones of many', () => {
    expect(initiallyVisibleChannels(syntheticStream({ rows: 2000, channels: 4 }))).toEqual([0, 1, 2, 3]);
    const wide = syntheticStream({ rows: 5000, channels: 30 });
    const vis = initiallyVisibleChannels(wide);
    expect(vis.length).toBeLessThanOrEqual(8);
    expect(vis).toContain(1); // the channel with the injected anomaly
    for (const name of wide.alerts[0].topChannels) expect(vis).toContain(wide.channels.indexOf(name));
    const h = renderReport({ ...syntheticReport({ rows: 100 }), streams: [wide] });
    expect(h).toContain(`Drawing ${vis.length} of 30 channels`);
  });
});

describe('formatNumber', () => {
  it('formats for reading', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(1234567)).toBe('1.23e+6');
    expect(formatNumber(12345)).toBe('12,345');
    expect(formatNumber(NaN)).toBe('–');
    expect(formatNumber('n/a')).toBe('n/a');
  });
});
