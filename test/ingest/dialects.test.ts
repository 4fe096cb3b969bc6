/**
 * What a new user's files look like: label columns beside the measurements, semicolon /
 * tab / pipe delimiters, header-less one-value-per-line files, same-named files in two
 * folders. Real files through the real readers.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCsvTable, readCsvTable } from '../../src/eval/csv.js';
import { sniffDelimiter } from '../../src/ingest/csv-line.js';
import { openSeries, uniqueStreamNames, type ReaderOptions } from '../../src/ingest/readers.js';
import type { SeriesRecord } from '../../src/ingest/types.js';
import { InputError } from '../../src/util/errors.js';
import { tempDir } from '../support/core.js';

const dir = tempDir('nf-dialects-');

async function read(file: string, opts: ReaderOptions = {}) {
  const src = await openSeries(file, opts);
  const recs: SeriesRecord[] = [];
  for await (const r of src.records()) recs.push(r);
  return { src, recs, channels: src.header.channels };
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

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  mkdirSync(path.dirname(f), { recursive: true });
  writeFileSync(f, text);
  return f;
}

describe('label-like columns', () => {
  it('are never channels by default, and say why they were left out', async () => {
    const f = write('pump.csv', 'datetime,flow,Anomaly,changepoint,label,is_anomaly,target,temp\n2020-01-01 00:00:00,1.5,0,0,0,0,1,20\n2020-01-01 00:00:01,1.6,1,1,1,1,0,21\n');
    const { src, channels, recs } = await read(f);
    expect(channels).toEqual(['flow', 'temp']);
    expect(src.excluded.map((e) => e.column)).toEqual(['Anomaly', 'changepoint', 'label', 'is_anomaly', 'target']);
    expect(src.excluded[0].reason).toMatch(/label-like/);
    expect(Array.from(recs[1].values)).toEqual([1.6, 21]);
  });

  it('are used when data.channels names them', async () => {
    const f = path.join(dir, 'pump.csv');
    expect((await read(f, { channels: ['flow', 'anomaly'.replace('a', 'A')] })).channels).toEqual(['flow', 'Anomaly']);
  });

  it('data.exclude leaves further columns out; JSON Lines fields too', async () => {
    const f = path.join(dir, 'pump.csv');
    const { channels, src } = await read(f, { exclude: ['temp'] });
    expect(channels).toEqual(['flow']);
    expect(src.excluded.find((e) => e.column === 'temp')?.reason).toBe('listed in data.exclude');
    const j = write('pump.jsonl', '{"ts":1,"flow":1,"anomaly":0,"setpoint":3}\n{"ts":2,"flow":2,"anomaly":1,"setpoint":3}\n');
    expect((await read(j, { exclude: ['setpoint'] })).channels).toEqual(['flow']);
  });

  it('a file of only labels fails with the reason, not silently', async () => {
    const f = write('labels-only.csv', 'label,anomaly\n0,0\n1,1\n');
    const e = await errorOf(read(f));
    expect(e.message).toMatch(/no numeric columns.*left out: label \(label-like/);
  });
});

describe('CSV dialects', () => {
  it('sniffs , ; tab and | from the header, decimal commas included', async () => {
    expect(sniffDelimiter('a;b;c', '1,5;2,5;3')).toBe(';');
    expect(sniffDelimiter('a,b', '1,2')).toBe(',');
    expect(sniffDelimiter('a\tb\tc')).toBe('\t');
    expect(sniffDelimiter('a|b')).toBe('|');
    expect(sniffDelimiter('value')).toBe(',');
    for (const [name, d] of [
      ['semi.csv', ';'],
      ['tab.tsv', '\t'],
      ['pipe.csv', '|'],
    ] as const) {
      const f = write(name, ['datetime', 'x', 'y', 'anomaly'].join(d) + '\n' + ['2020-03-09 10:00:00', '1.5', '2', '0'].join(d) + '\n' + ['2020-03-09 10:00:01', '2.5', '3', '1'].join(d) + '\n');
      const { src, channels, recs } = await read(f);
      expect(channels).toEqual(['x', 'y']);
      expect(src.csv).toEqual({ delimiter: d, header: true, timestampColumn: 'datetime' });
      expect(recs[1].ts).toBe(Date.UTC(2020, 2, 9, 10, 0, 1));
    }
  });

  it('a wrong explicit delimiter gets a hint naming the right one', async () => {
    const f = path.join(dir, 'semi.csv');
    const e = await errorOf(read(f, { delimiter: ',' }));
    expect(e.message).toMatch(/no numeric columns/);
    expect(e.message).toContain('is the delimiter ";"? set data.delimiter');
    const e2 = await errorOf(read(f, { delimiter: ',', channels: ['x'] }));
    expect(e2.message).toMatch(/column "x" not in header .*is the delimiter ";"/);
  });

  it("evaluate's table reader honours the delimiter (sniffed or given)", () => {
    const f = write('labelled;.csv', 'timestamp;value;label\n1;2;0\n2;3;1\n');
    const t = readCsvTable(f);
    expect(t.header).toEqual(['timestamp', 'value', 'label']);
    expect(t.rows[1]).toEqual(['2', '3', '1']);
    expect(parseCsvTable('a|b\n1|2\n', 'x.csv', '|').rows).toEqual([['1', '2']]);
    // One CSV line reader for series files and benchmark tables: quoted fields read the same.
    expect(parseCsvTable('"a,1",b\n"x ""y""",2\n', 'q.csv', ',')).toMatchObject({ header: ['a,1', 'b'], rows: [['x "y"', '2']] });
  });
});

describe('files without a header', () => {
  it('a numeric first line is data: columns c0, c1, ... and no row is lost', async () => {
    const f = write('single.txt', '12.5\n13\n14.25\n');
    const { src, channels, recs } = await read(f);
    expect(channels).toEqual(['c0']);
    expect(src.csv?.header).toBe(false);
    expect(recs.map((r) => r.values[0])).toEqual([12.5, 13, 14.25]);
    expect(recs.map((r) => r.line)).toEqual([1, 2, 3]);
  });

  it('several columns, a date column as the timestamp, and header: false to force it', async () => {
    const f = write('nohead.csv', '2020-01-01 00:00:00;1;2\n2020-01-01 00:00:01;3;4\n');
    const { channels, recs } = await read(f);
    expect(channels).toEqual(['c1', 'c2']);
    expect(recs).toHaveLength(2);
    expect(recs[0].ts).toBe(Date.UTC(2020, 0, 1));
    // A header-like first line read as data when told so: its cells are then bad values.
    const g = write('forced.csv', 'x,y\n1,2\n');
    const e = await errorOf(read(g, { header: false }));
    expect(e.message).toMatch(/no numeric columns/);
    const m = write('nohead-missing.csv', '1.5,,2\n1.6,3,NA\n');
    expect((await read(m)).channels).toEqual(['c0', 'c1', 'c2']);
    const idx = write('index-col.csv', ',a,b\n0,1,2\n');
    expect((await read(idx)).channels).toEqual(['', 'a', 'b']);
    const h = write('numbers-as-names.csv', '1,2\n3,4\n');
    expect((await read(h, { header: true })).channels).toEqual(['1', '2']);
  });
});

describe('stream names', () => {
  it('same-named files in two folders get distinct names; others keep their base name', () => {
    expect(uniqueStreamNames(['/d/valve1/0.csv', '/d/valve2/0.csv', '/d/valve2/1.csv'])).toEqual(['valve1/0', 'valve2/0', '1']);
    expect(uniqueStreamNames(['/a/x/s.csv', '/b/x/s.csv'])).toEqual(['a/x/s', 'b/x/s']);
    expect(uniqueStreamNames(['a.csv'])).toEqual(['a']);
  });
});
