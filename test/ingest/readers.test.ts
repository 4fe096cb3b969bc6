import { writeFileSync, createWriteStream } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSeries } from '../../src/ingest/readers.js';
import type { SeriesRecord } from '../../src/ingest/types.js';
import { InputError } from '../../src/util/errors.js';
import { tempDir } from '../support/core.js';

async function readAll(file: string, opts = {}): Promise<{ channels: string[]; recs: SeriesRecord[]; hasTs: boolean }> {
  const src = await openSeries(file, opts);
  const recs: SeriesRecord[] = [];
  for await (const r of src.records()) recs.push(r);
  return { channels: src.header.channels, recs, hasTs: src.header.hasTimestamps };
}

async function errorOf(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

describe('CSV reader', () => {
  const dir = tempDir();

  it('reads all numeric columns, detects the timestamp column and parses dates as UTC', async () => {
    const f = path.join(dir, 'a.csv');
    writeFileSync(f, 'timestamp,temp,label,load\n2014-04-01 00:00:00,1.5,x,2\n2014-04-01 00:05:00,2.5,y,3\n');
    const { channels, recs, hasTs } = await readAll(f);
    expect(channels).toEqual(['temp', 'load']);
    expect(hasTs).toBe(true);
    expect(recs.map((r) => Array.from(r.values))).toEqual([
      [1.5, 2],
      [2.5, 3],
    ]);
    expect(recs[1].ts).toBe(Date.UTC(2014, 3, 1, 0, 5));
    expect(recs.map((r) => r.line)).toEqual([2, 3]);
  });

  it('selects channels by name and reads NAB files', async () => {
    const f = path.join(dir, 'nab.csv');
    writeFileSync(f, 'timestamp,value\n2014-04-01 00:00:00,10\n2014-04-01 00:05:00,12\n');
    expect((await readAll(f)).channels).toEqual(['value']);
    const g = path.join(dir, 'sel.csv');
    writeFileSync(g, 'a,b,c\n1,2,3\n4,5,6\n');
    const { channels, recs } = await readAll(g, { channels: ['c', 'a'] });
    expect(channels).toEqual(['c', 'a']);
    expect(Array.from(recs[1].values)).toEqual([6, 4]);
  });

  it('turns empty and NA cells into NaN (missing), not errors', async () => {
    const f = path.join(dir, 'missing.csv');
    writeFileSync(f, 'a,b\n1,2\n,NA\n3,4\n');
    const { recs } = await readAll(f);
    expect(Number.isNaN(recs[1].values[0])).toBe(true);
    expect(Number.isNaN(recs[1].values[1])).toBe(true);
  });

  it('names file and line for a non-numeric cell', async () => {
    const f = path.join(dir, 'bad.csv');
    writeFileSync(f, 'a,b\n1,2\n3,4\n5,abc\n');
    const e = await errorOf(readAll(f));
    expect(e.message).toContain(`${f}:4`);
    expect(e.message).toContain('"abc"');
    expect(e.message).toContain('column "b"');
    expect(e.exitCode).toBe(2);
  });

  it('rejects ragged rows, empty files, header-only files and missing columns', async () => {
    const ragged = path.join(dir, 'ragged.csv');
    writeFileSync(ragged, 'a,b\n1,2\n3\n');
    expect((await errorOf(readAll(ragged))).message).toMatch(/ragged.csv:3: ragged row/);
    const empty = path.join(dir, 'empty.csv');
    writeFileSync(empty, '');
    expect((await errorOf(readAll(empty))).message).toContain('empty');
    const headerOnly = path.join(dir, 'header.csv');
    writeFileSync(headerOnly, 'a,b\n');
    expect((await errorOf(readAll(headerOnly))).message).toContain('no data rows');
    const cols = path.join(dir, 'cols.csv');
    writeFileSync(cols, 'a,b\n1,2\n');
    expect((await errorOf(readAll(cols, { channels: ['a', 'zz'] }))).message).toContain('column "zz" not in header');
    expect((await errorOf(readAll(path.join(dir, 'nope.csv')))).message).toContain('ENOENT');
  });

  it('streams a large file with bounded memory', async () => {
    const f = path.join(dir, 'big.csv');
    const out = createWriteStream(f);
    out.write('timestamp,a,b,c\n');
    const rows = 1_500_000; // ~60 MB of text
    for (let i = 0; i < rows; i += 10_000) {
      let chunk = '';
      for (let j = i; j < i + 10_000; j++) chunk += `${j},${(j % 97) * 0.5},${j % 13},${Math.sin(j).toFixed(6)}\n`;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(() => r()));
    // vitest.config.ts passes --expose-gc: without a forced collection the baseline holds the writer's garbage.
    if (!global.gc) throw new Error('global.gc missing: run the tests with node --expose-gc (vitest.config.ts execArgv)');
    global.gc();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    let n = 0;
    let sum = 0;
    const src = await openSeries(f);
    for await (const r of src.records()) {
      n++;
      sum += r.values[1];
      if ((n & 0x3fff) === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    expect(n).toBe(rows);
    expect(sum).toBeGreaterThan(0);
    // Loading the file whole would hold >= 60 MB of string (120 MB as UTF-16) at once.
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
  });
});

describe('JSON Lines reader', () => {
  const dir = tempDir();

  it('reads named numeric fields and a values array', async () => {
    const f = path.join(dir, 'a.jsonl');
    writeFileSync(f, '{"ts":1000,"x":1,"y":2,"note":"a"}\n\n{"ts":2000,"x":3,"y":null}\n');
    const { channels, recs } = await readAll(f);
    expect(channels).toEqual(['x', 'y']);
    expect(recs[0].ts).toBe(1000);
    expect(Number.isNaN(recs[1].values[1])).toBe(true);
    const g = path.join(dir, 'b.jsonl');
    writeFileSync(g, '{"values":[1,2,3]}\n{"values":[4,5,6]}\n');
    const b = await readAll(g);
    expect(b.channels).toEqual(['value0', 'value1', 'value2']);
    expect(Array.from(b.recs[1].values)).toEqual([4, 5, 6]);
  });

  it('names file and line for invalid JSON, missing fields and wrong arity', async () => {
    const f = path.join(dir, 'bad.jsonl');
    writeFileSync(f, '{"x":1}\n{"x":\n');
    expect((await errorOf(readAll(f))).message).toMatch(/bad.jsonl:2: invalid JSON/);
    const g = path.join(dir, 'missing.jsonl');
    writeFileSync(g, '{"x":1}\n{"y":1}\n');
    expect((await errorOf(readAll(g))).message).toMatch(/missing.jsonl:2 column "x": field "x" missing/);
    const h = path.join(dir, 'arity.jsonl');
    writeFileSync(h, '{"values":[1,2]}\n{"values":[1]}\n');
    expect((await errorOf(readAll(h))).message).toMatch(/arity.jsonl:2 column "values": "values" has 1 entries, expected 2/);
  });
});
