import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSmapChannels, loadSmapChannel, loadSmapLabels, readSmapSeries, smapRowLabels } from '../../src/eval/smap.js';
import { InputError } from '../../src/util/errors.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const smapDir = path.resolve(repoRoot, '../shared/data/smap_msl');

describe('SMAP/MSL loaders on the shared data', () => {
  it('lists channels and loads one with its labels', () => {
    const ids = listSmapChannels(smapDir);
    expect(ids).toContain('MSL/C-1');
    expect(ids).toContain('SMAP/A-1');

    const labels = loadSmapLabels(smapDir);
    const c1 = loadSmapChannel(smapDir, 'MSL/C-1', labels);
    const entry = labels.get('MSL/C-1')!;
    expect(c1.test.length).toBe(entry.testLength);
    expect(c1.test.channels).toBe(c1.train.channels);
    // Inclusive ranges: the sum of labels is Σ (end - start + 1).
    const expected = entry.anomalies.reduce((s, [a, b]) => s + b - a + 1, 0);
    expect(c1.labels.reduce((s, x) => s + x, 0)).toBe(expected);
    const [first] = entry.anomalies;
    expect([c1.labels[first[0] - 1], c1.labels[first[0]], c1.labels[first[1]], c1.labels[first[1] + 1]]).toEqual([0, 1, 1, 0]);

    // Channel-major layout: c0 of the second data row, read from the raw text.
    const raw = readFileSync(path.join(smapDir, 'MSL/C-1_test.csv'), 'utf8').split('\n');
    expect(c1.test.values[1]).toBeCloseTo(Number(raw[2].split(',')[0]), 5);
    expect(c1.test.values[c1.test.length + 1]).toBe(Number(raw[2].split(',')[1]));
  });
});

describe('SMAP/MSL loaders on bad input', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'smap-'));
    mkdirSync(path.join(dir, 'SMAP'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names file and line of a bad value', () => {
    const file = path.join(dir, 'SMAP', 'X-1_test.csv');
    writeFileSync(file, 'c0,c1\n0.5,0\n0.7,oops\n');
    expect(() => readSmapSeries(file)).toThrow(InputError);
    expect(() => readSmapSeries(file)).toThrow(`${file}:3`);
    writeFileSync(file, 'c0,c2\n0.5,0\n');
    expect(() => readSmapSeries(file)).toThrow(/expected "c1"/);
  });

  it('rejects labels outside the test file and row-count mismatches', () => {
    writeFileSync(path.join(dir, 'labels.json'), JSON.stringify({ 'SMAP/X-1': { anomalies: [[1, 5]], classes: [], test_length: 5 } }));
    expect(() => loadSmapLabels(dir)).toThrow(/outside 0..4/);
    writeFileSync(path.join(dir, 'labels.json'), JSON.stringify({ 'SMAP/X-1': { anomalies: [[1, 2]], classes: ['point'], test_length: 3 } }));
    expect(Array.from(smapRowLabels(loadSmapLabels(dir).get('SMAP/X-1')!))).toEqual([0, 1, 1]);
    writeFileSync(path.join(dir, 'SMAP', 'X-1_train.csv'), 'c0,c1\n0.1,0\n');
    writeFileSync(path.join(dir, 'SMAP', 'X-1_test.csv'), 'c0,c1\n0.1,0\n0.2,1\n');
    expect(() => loadSmapChannel(dir, 'SMAP/X-1')).toThrow(/2 rows but labels.json says 3/);
  });
});
