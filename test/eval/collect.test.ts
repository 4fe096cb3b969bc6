import { describe, expect, it } from 'vitest';
import { evaluateConfigSchema } from '../../src/eval/config.js';
import { collectFromRecords } from '../../src/eval/engine.js';
import type { SeriesRecord } from '../../src/ingest/types.js';

const ROWS = 500;
const LENGTH = 8;
const records: SeriesRecord[] = Array.from({ length: ROWS }, (_, i) => ({ index: i, values: Float64Array.of(i, -i) }));

function collect(maxWindows: number, seed: number, keep?: (w: { end: number }) => boolean) {
  const config = evaluateConfigSchema.parse({ window: { length: LENGTH }, train: { stride: 1, maxWindows, seed } });
  const got = collectFromRecords(records, ['a', 'b'], 's', config, keep);
  expect(got.bySource).toHaveLength(1);
  return got.bySource[0];
}

describe('collectFromRecords (training windows for an evaluation unit)', () => {
  it('keeps every window when they fit, in time order', () => {
    const ends = collect(10_000, 1).map((w) => w.end);
    expect(ends).toEqual(Array.from({ length: ROWS - LENGTH + 1 }, (_, i) => i + LENGTH - 1));
  });

  it('over the cap: a seeded uniform sample of exactly maxWindows windows, in time order, each one intact', () => {
    const a = collect(50, 7);
    expect(a).toHaveLength(50);
    const ends = a.map((w) => w.end);
    for (let i = 1; i < ends.length; i++) expect(ends[i]).toBeGreaterThan(ends[i - 1]);
    // The sample reaches the late windows too (a prefix would end near row 57).
    expect(ends[ends.length - 1]).toBeGreaterThan(ROWS / 2);
    for (const w of a) expect(Array.from(w.data.subarray(0, LENGTH))).toEqual(Array.from({ length: LENGTH }, (_, j) => w.end - LENGTH + 1 + j));
    expect(collect(50, 7).map((w) => w.end)).toEqual(ends);
    expect(collect(50, 8).map((w) => w.end)).not.toEqual(ends);
  });

  it('samples only the windows `keep` accepts', () => {
    const ends = collect(40, 3, (w) => w.end % 2 === 0).map((w) => w.end);
    expect(ends).toHaveLength(40);
    for (const e of ends) expect(e % 2).toBe(0);
  });
});
