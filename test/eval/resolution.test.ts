import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateConfigSchema, type EvaluateConfig } from '../../src/eval/config.js';
import type { EvalUnit, UnitResult } from '../../src/eval/engine.js';
import { memoryAtRows } from '../../src/eval/evaluate.js';
import { autoRowsPerStep, RowMeans, scoresAtRows, unitResolution } from '../../src/eval/resolution.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

describe('time resolution of the window memory (evaluate.resolution)', () => {
  it('builds the coarse window ending at a row from step means of the rows before it, NaN left out', () => {
    const rec = (i: number, v: number) => ({ index: i, ts: 1000 * i, values: Float64Array.of(v, 2 * v) });
    const records = [rec(0, 1), rec(1, 3), rec(2, Number.NaN), rec(3, 5), rec(4, 7), rec(5, 9), rec(6, 100)];
    const means = new RowMeans(records, 2);
    // 2 steps of 3 rows ending at row 5: rows 0-2 (1, 3; NaN left out) and rows 3-5.
    expect(Array.from(means.window(5, 3, 2)!.data)).toEqual([2, 7, 4, 14]);
    // Ending at row 6: rows 1-3 and 4-6 (the newest row is the last of the last step).
    expect(Array.from(means.window(6, 3, 2)!.data)).toEqual([4, (7 + 9 + 100) / 3, 8, (2 * (7 + 9 + 100)) / 3].map(Math.fround));
    expect(means.window(4, 3, 2)).toBeNull();
    expect(means.window(5, 3, 2)!.missing).toBe(false);
    expect(new RowMeans([rec(0, Number.NaN), rec(1, 2)], 2).window(1, 1, 2)!.missing).toBe(true);
  });

  it('auto picks the rows per step at which the normal data holds about probationWindows windows', () => {
    expect(autoRowsPerStep(750, 8, 13)).toBe(7);
    expect(autoRowsPerStep(604, 8, 13)).toBe(5);
    expect(autoRowsPerStep(50, 8, 13)).toBe(1);
    const config = evaluateConfigSchema.parse({ window: { length: 32 }, evaluate: { resolution: { rowsPerStep: 'auto', windowLength: 8 } } });
    expect(unitResolution(config, 750)).toEqual({ rowsPerStep: 7, windowLength: 8 });
    const plain = evaluateConfigSchema.parse({ window: { length: 32 } });
    expect(unitResolution(plain, 750)).toEqual({ rowsPerStep: 1, windowLength: 32 });
  });

  it('gives each detector window the score of the coarse window ending at its last row, fill before the first', () => {
    expect(scoresAtRows([5, 6, 7, 9], [10, 20, 30, 40], [3, 4, 5, 6, 7, 8, 9, 10], -1)).toEqual([-1, -1, 10, 20, 30, 30, 40, 40]);
    expect(() => scoresAtRows([1, 2], [1], [1], 0)).toThrow(InputError);
  });
});

describe('the memory at a coarser resolution (a unit streamed end to end)', () => {
  let dir: string;
  let unit: EvalUnit;
  const rows = 3000;
  const shift = { from: 2000, to: 2400 };

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nf-resolution-'));
    // Row noise sd 1 with a level shift of +0.8 sd: within one 16-row window the shift is
    // lost in the noise, in means of 8 rows (sd 0.35) it is more than two sd.
    const rng = new Rng(11);
    const lines = ['timestamp,value'];
    for (let i = 0; i < rows; i++) {
      const t = new Date(Date.UTC(2020, 0, 1) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
      const v = 10 + rng.normal() + (i >= shift.from && i < shift.to ? 0.8 : 0);
      lines.push(`${t},${v.toFixed(5)}`);
    }
    const testFile = path.join(dir, 'shift.csv');
    writeFileSync(testFile, lines.join('\n') + '\n');
    unit = { corpus: 'nab', id: 'shift.csv', testFile, trainRows: 750 };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const configWith = (resolution: object, parts: string[] = ['memory']): EvaluateConfig =>
    evaluateConfigSchema.parse({
      window: { length: 16, hop: 1 },
      evaluate: { memory: { enabled: true, replacement: 'static' }, fusion: { parts }, resolution },
    });
  // The detector's windows: one per row from row 15 on (window 16, hop 1).
  const detectorWindows = { windowEnd: Array.from({ length: rows - 15 }, (_, i) => i + 15) } as unknown as UnitResult;
  const flaggedShare = (surprise: number[], from: number, to: number) => {
    let n = 0;
    let hit = 0;
    detectorWindows.windowEnd.forEach((e, k) => {
      if (e >= from && e < to) {
        n++;
        if (surprise[k] >= 3) hit++;
      }
    });
    return hit / n;
  };

  it('finds a small level shift that the every-row memory misses, with one score per row', async () => {
    const everyRow = await memoryAtRows(unit, detectorWindows, configWith({}), (_k, s) => s);
    const coarse = await memoryAtRows(unit, detectorWindows, configWith({ rowsPerStep: 8, windowLength: 8 }), (_k, s) => s);
    expect(coarse.windowEnd).toEqual(detectorWindows.windowEnd);
    expect(coarse.surprise).toHaveLength(detectorWindows.windowEnd.length);
    // The first coarse window (8 steps of 8 rows) ends at row 63: detector windows before it get 0.
    expect(coarse.surprise.slice(0, 63 - 15).every((s) => s === 0)).toBe(true);
    expect(coarse.score[63 - 15]).toBeGreaterThan(0);
    // The shift's second half (the coarse windows lie fully inside it).
    const inShiftCoarse = flaggedShare(coarse.surprise, shift.from + 200, shift.to);
    const inShiftRow = flaggedShare(everyRow.surprise, shift.from + 200, shift.to);
    const normalCoarse = flaggedShare(coarse.surprise, 1000, shift.from);
    expect(inShiftCoarse).toBeGreaterThan(0.5);
    expect(inShiftRow).toBeLessThan(0.25);
    expect(normalCoarse).toBeLessThan(0.1);
  });

  it('fuses the memories of further resolutions: the largest surprise minus log10 of their number', async () => {
    const fine = await memoryAtRows(unit, detectorWindows, configWith({}), (_k, s) => s);
    const coarse = await memoryAtRows(unit, detectorWindows, configWith({ rowsPerStep: 8, windowLength: 8 }), (_k, s) => s);
    const both = await memoryAtRows(unit, detectorWindows, configWith({ also: [{ rowsPerStep: 8, windowLength: 8 }] }), (_k, s) => s);
    expect(both.windowEnd).toEqual(detectorWindows.windowEnd);
    both.surprise.forEach((s, k) => expect(s).toBeCloseTo(Math.max(0, Math.max(fine.surprise[k], coarse.surprise[k]) - Math.log10(2)), 12));
    expect(both.size).toBe(fine.size + coarse.size);
    // The fused memory keeps the coarse memory's view of the shift.
    expect(flaggedShare(both.surprise, shift.from + 200, shift.to)).toBeGreaterThan(0.5);
  });

  it('asks the insertion guard about the detector window ending at the same row', async () => {
    const asked: number[] = [];
    const config = evaluateConfigSchema.parse({
      window: { length: 16, hop: 1 },
      evaluate: { memory: { enabled: true, replacement: 'fifo', capacity: 2000 }, fusion: { parts: ['memory'] }, resolution: { rowsPerStep: 8, windowLength: 8 } },
    });
    const open = await memoryAtRows(unit, detectorWindows, config, (k, s) => {
      asked.push(k);
      return s;
    });
    expect(asked[0]).toBe(63 - 15);
    expect(asked).toHaveLength(rows - 63);
    expect(open.inserted).toBeGreaterThan(1000);
    // A guard that flags every window keeps them all out.
    const closed = await memoryAtRows(unit, detectorWindows, config, () => Number.POSITIVE_INFINITY);
    expect(closed.inserted).toBe(0);
  });
});
