import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, InputLimitError } from '../util/errors.js';
import { CSV_DELIMITERS, describeDelimiter, isDataRow, isDateCell, parseNumericCell, parseTimestamp, sniffDelimiter, splitCsvLine } from './csv-line.js';
import type { SeriesHeader, SeriesRecord } from './types.js';

export type FileFormat = 'csv' | 'jsonl';

export interface ReaderOptions {
  /** Channel names to read; default: every numeric column (CSV) or field (JSONL). */
  channels?: string[];
  /** Timestamp column/field; default: the first of timestamp, ts, time, datetime, date if present. */
  timestampColumn?: string | null;
  /** Stream name; default: the file name without extension. */
  stream?: string;
  /** CSV delimiter; default: sniffed from the first lines (`,` `;` tab `|`). */
  delimiter?: string;
  /** CSV header row; default: present unless the first line is data (all numbers/dates). */
  header?: boolean;
  /** Columns/fields never read as channels by default (data.exclude). */
  exclude?: string[];
  format?: FileFormat;
  /** Longest line accepted, in bytes (default MAX_LINE_BYTES); checked while reading, before the line is held. */
  maxLineBytes?: number;
  /** Most columns (CSV) or fields (JSONL) a line may have (default MAX_FILE_CHANNELS). */
  maxChannels?: number;
}

/** Default longest line: far above any sensor export, far below what hurts the heap. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Default most columns or fields per line. */
export const MAX_FILE_CHANNELS = 1024;

/** A column that did not become a channel, and why. */
export interface ExcludedColumn {
  column: string;
  reason: string;
}

/** How a CSV file was read, so a model can read its scoring data the same way. */
export interface CsvSettings {
  delimiter: string;
  header: boolean;
  timestampColumn: string | null;
}

export interface SeriesSource {
  header: SeriesHeader;
  file: string;
  records(): AsyncIterable<SeriesRecord>;
  /** Columns left out of the default channel choice, with the reason. */
  excluded: ExcludedColumn[];
  /** CSV only: the delimiter, header and timestamp column in use. */
  csv?: CsvSettings;
}

const TIMESTAMP_NAMES = ['timestamp', 'ts', 'time', 'datetime', 'date'];

export function detectFormat(file: string): FileFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  return 'csv';
}

export function streamNameOf(file: string): string {
  return path.basename(file).replace(/\.[^.]+$/, '');
}

/**
 * One stream name per file: the file name without extension, or, where several files
 * share it (valve1/0.csv, valve2/0.csv), as many parent folders as it takes to tell them
 * apart (valve1/0, valve2/0). Rows of two files must never share a stream's window ring.
 */
export function uniqueStreamNames(files: string[]): string[] {
  const parts = files.map((f) => path.resolve(f).split(path.sep).filter((p) => p !== ''));
  const nameAt = (i: number, depth: number) => {
    const p = parts[i];
    const base = streamNameOf(p[p.length - 1]);
    return [...p.slice(Math.max(0, p.length - 1 - depth), p.length - 1), base].join('/');
  };
  const depth = files.map(() => 0);
  for (let round = 0; round < 64; round++) {
    const names = files.map((_, i) => nameAt(i, depth[i]));
    const count = new Map<string, number>();
    for (const n of names) count.set(n, (count.get(n) ?? 0) + 1);
    let changed = false;
    names.forEach((n, i) => {
      if ((count.get(n) ?? 0) > 1 && depth[i] < parts[i].length - 1) {
        depth[i]++;
        changed = true;
      }
    });
    if (!changed) return names;
  }
  return files.map((_, i) => nameAt(i, depth[i]));
}

/**
 * Lines of a file with their 1-based numbers, read through a stream so memory stays
 * bounded whatever the file size: a line longer than `maxLineBytes` raises InputLimitError
 * as soon as that many bytes are seen without a line break (readline would hold it whole).
 * Line breaks are LF, CRLF or a lone CR, as readline reads them.
 */
async function* numberedLines(file: string, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<{ text: string; line: number }> {
  const input = createReadStream(file);
  let parts: Buffer[] = [];
  let held = 0;
  let line = 0;
  let afterCR = false;
  const tooLong = () =>
    new InputLimitError('line_bytes', `line is longer than ${maxLineBytes} bytes (maxLineBytes); is this a text file with line breaks?`, { file, line: line + 1 });
  const take = (tail: Buffer): { text: string; line: number } => {
    const text = (parts.length ? Buffer.concat([...parts, tail]) : tail).toString('utf8');
    parts = [];
    held = 0;
    return { text, line: ++line };
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let pos = 0;
      if (afterCR && chunk.length > 0) {
        if (chunk[0] === 0x0a) pos = 1;
        afterCR = false;
      }
      while (pos < chunk.length) {
        let end = pos;
        while (end < chunk.length && chunk[end] !== 0x0a && chunk[end] !== 0x0d) end++;
        if (held + (end - pos) > maxLineBytes) throw tooLong();
        if (end === chunk.length) {
          parts.push(chunk.subarray(pos));
          held += end - pos;
          break;
        }
        yield take(chunk.subarray(pos, end));
        if (chunk[end] === 0x0d) {
          if (end + 1 < chunk.length) pos = chunk[end + 1] === 0x0a ? end + 2 : end + 1;
          else {
            afterCR = true;
            pos = end + 1;
          }
        } else pos = end + 1;
      }
    }
    if (held > 0) yield take(Buffer.alloc(0));
  } finally {
    input.destroy();
  }
}

/** First non-blank line, with its number; used to learn the header before streaming. */
async function firstLines(file: string, n: number, maxLineBytes?: number): Promise<{ text: string; line: number }[]> {
  const out: { text: string; line: number }[] = [];
  for await (const l of numberedLines(file, maxLineBytes)) {
    if (l.text.trim() === '') continue;
    out.push(l);
    if (out.length >= n) break;
  }
  return out;
}

async function ensureReadable(file: string): Promise<void> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new InputError('not a regular file', { file });
    if (s.size === 0) throw new InputError('file is empty', { file });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file });
  }
}

/** Columns that hold labels, not measurements: never model inputs unless named in data.channels. */
export const LABEL_LIKE_COLUMNS = [
  'label',
  'labels',
  'anomaly',
  'anomalies',
  'is_anomaly',
  'anomalous',
  'is_anomalous',
  'changepoint',
  'change_point',
  'target',
  'outlier',
  'is_outlier',
];

export function isLabelLike(name: string): boolean {
  return LABEL_LIKE_COLUMNS.includes(name.trim().toLowerCase());
}

/** A suggestion when a line holds another delimiter than the one in use. */
function delimiterHint(line: string, used: string): string {
  if (line.includes(used)) return '';
  const other = CSV_DELIMITERS.find((d) => d !== used && line.includes(d));
  return other === undefined ? '' : ` (the line contains ${describeDelimiter(other)}: is the delimiter ${describeDelimiter(other)}? set data.delimiter)`;
}

async function openCsv(file: string, opts: ReaderOptions): Promise<SeriesSource> {
  const head = await firstLines(file, 2, opts.maxLineBytes);
  if (head.length === 0) throw new InputError('file has no header line', { file });
  const delimiter = opts.delimiter ?? sniffDelimiter(head[0].text, head[1]?.text);
  const firstCells = splitCsvLine(head[0].text, delimiter);
  const hasHeader = opts.header ?? !isDataRow(firstCells);
  const columns = hasHeader ? firstCells.map((c) => c.trim()) : firstCells.map((_, i) => `c${i}`);
  checkChannelCount(columns.length, opts, file, head[0].line);
  const firstData = hasHeader ? head[1] : head[0];
  if (firstData === undefined) throw new InputError('file has a header but no data rows', { file, line: head[0].line });
  const firstRow = splitCsvLine(firstData.text, delimiter);
  const headerLine = hasHeader ? head[0].line : undefined;
  const hint = hasHeader ? delimiterHint(head[0].text, delimiter) : '';
  let tsName: string | undefined;
  if (opts.timestampColumn === null) tsName = undefined;
  else if (opts.timestampColumn !== undefined) tsName = opts.timestampColumn;
  else if (hasHeader) tsName = columns.find((c) => TIMESTAMP_NAMES.includes(c.toLowerCase()));
  // Without a header a timestamp column can only be recognised by its dates.
  else tsName = columns.find((_, i) => isDateCell(firstRow[i] ?? ''));
  const tsIndex = tsName === undefined ? -1 : columns.indexOf(tsName);
  if (tsName !== undefined && tsIndex < 0)
    throw new InputError(`timestamp column "${tsName}" not in header (${columns.join(', ')})${hint}`, { file, line: headerLine });

  const excluded: ExcludedColumn[] = [];
  let channelIdx: number[];
  if (opts.channels && opts.channels.length > 0) {
    channelIdx = opts.channels.map((name) => {
      const i = columns.indexOf(name);
      if (i < 0) {
        const what = hasHeader ? `not in header (${columns.join(', ')})` : `not in this header-less file (columns ${columns.join(', ')})`;
        throw new InputError(`column "${name}" ${what}${hint}`, { file, line: headerLine, column: name });
      }
      return i;
    });
  } else {
    // "All numeric" is decided on the first data row; later non-numeric cells are errors.
    const exclude = new Set(opts.exclude ?? []);
    channelIdx = [];
    columns.forEach((name, i) => {
      if (i === tsIndex) return;
      if (exclude.has(name)) excluded.push({ column: name, reason: 'listed in data.exclude' });
      else if (isLabelLike(name)) excluded.push({ column: name, reason: 'label-like name; name it in data.channels to use it' });
      else if (parseNumericCell(firstRow[i] ?? '') === null) excluded.push({ column: name, reason: `not numeric in the first data row ("${firstRow[i] ?? ''}")` });
      else channelIdx.push(i);
    });
    if (channelIdx.length === 0) {
      const left = excluded.length ? `; left out: ${excluded.map((e) => `${e.column} (${e.reason})`).join(', ')}` : '';
      throw new InputError(`no numeric columns found in the first data row${hint}${left}`, { file, line: firstData.line });
    }
  }
  const channels = channelIdx.map((i) => columns[i]);
  const header: SeriesHeader = { stream: opts.stream ?? streamNameOf(file), channels, hasTimestamps: tsIndex >= 0 };
  const settings: CsvSettings = { delimiter, header: hasHeader, timestampColumn: tsIndex >= 0 ? columns[tsIndex] : null };

  async function* records(): AsyncGenerator<SeriesRecord> {
    let index = 0;
    let sawHeader = !hasHeader;
    for await (const { text, line } of numberedLines(file, opts.maxLineBytes)) {
      if (text.trim() === '') continue;
      if (!sawHeader) {
        sawHeader = true;
        continue;
      }
      const cells = splitCsvLine(text, delimiter);
      if (cells.length !== columns.length)
        throw new InputError(`ragged row: ${cells.length} fields, ${hasHeader ? 'header has' : 'first row has'} ${columns.length}${delimiterHint(text, delimiter)}`, { file, line });
      const values = new Float64Array(channelIdx.length);
      for (let c = 0; c < channelIdx.length; c++) {
        const v = parseNumericCell(cells[channelIdx[c]]);
        if (v === null)
          throw new InputError(`non-numeric value "${cells[channelIdx[c]]}"`, { file, line, column: columns[channelIdx[c]] });
        values[c] = v;
      }
      const rec: SeriesRecord = { index: index++, line, values };
      if (tsIndex >= 0) rec.ts = parseTimestamp(cells[tsIndex]);
      yield rec;
    }
  }
  return { header, file, records, excluded, csv: settings };
}

function checkChannelCount(n: number, opts: ReaderOptions, file: string, line: number): void {
  const max = opts.maxChannels ?? MAX_FILE_CHANNELS;
  if (n > max) throw new InputLimitError('channels', `${n} columns, more than the ${max} allowed (maxChannels)`, { file, line });
}

function parseJsonLine(text: string, file: string, line: number): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new InputError(`invalid JSON (${(e as Error).message})`, { file, line });
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new InputError('line is not a JSON object', { file, line });
  return obj as Record<string, unknown>;
}

function jsonNumber(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return Number.NaN;
  if (typeof v === 'number') return Number.isFinite(v) ? v : Number.NaN;
  if (typeof v === 'string') return parseNumericCell(v);
  return null;
}

/**
 * JSON Lines: one object per line, channels as named numeric fields, or a `values` array
 * (channels then named value0..valueN-1 unless `channels` names them).
 */
async function openJsonl(file: string, opts: ReaderOptions): Promise<SeriesSource> {
  const head = await firstLines(file, 1, opts.maxLineBytes);
  if (head.length === 0) throw new InputError('file has no records', { file });
  const first = parseJsonLine(head[0].text, file, head[0].line);
  const keys = Object.keys(first);
  checkChannelCount(Array.isArray(first.values) ? first.values.length : keys.length, opts, file, head[0].line);
  const tsName =
    opts.timestampColumn === null ? undefined : (opts.timestampColumn ?? keys.find((k) => TIMESTAMP_NAMES.includes(k.toLowerCase())));
  const arrayMode = Array.isArray(first.values);
  const excluded: ExcludedColumn[] = [];
  let channels: string[];
  if (arrayMode) {
    const n = (first.values as unknown[]).length;
    channels = opts.channels && opts.channels.length === n ? opts.channels : Array.from({ length: n }, (_, i) => `value${i}`);
  } else if (opts.channels && opts.channels.length > 0) {
    for (const c of opts.channels)
      if (!(c in first)) throw new InputError(`field "${c}" missing`, { file, line: head[0].line, column: c });
    channels = opts.channels;
  } else {
    const exclude = new Set(opts.exclude ?? []);
    channels = [];
    for (const k of keys) {
      if (k === tsName || k === 'stream') continue;
      if (exclude.has(k)) excluded.push({ column: k, reason: 'listed in data.exclude' });
      else if (isLabelLike(k)) excluded.push({ column: k, reason: 'label-like name; name it in data.channels to use it' });
      else if (typeof first[k] !== 'number') excluded.push({ column: k, reason: 'not a number in the first record' });
      else channels.push(k);
    }
    if (channels.length === 0) throw new InputError('no numeric fields in the first record', { file, line: head[0].line });
  }
  const header: SeriesHeader = { stream: opts.stream ?? streamNameOf(file), channels, hasTimestamps: tsName !== undefined };

  async function* records(): AsyncGenerator<SeriesRecord> {
    let index = 0;
    for await (const { text, line } of numberedLines(file, opts.maxLineBytes)) {
      if (text.trim() === '') continue;
      const obj = parseJsonLine(text, file, line);
      const values = new Float64Array(channels.length);
      if (arrayMode) {
        const arr = obj.values;
        if (!Array.isArray(arr)) throw new InputError('field "values" is not an array', { file, line, column: 'values' });
        if (arr.length !== channels.length)
          throw new InputError(`"values" has ${arr.length} entries, expected ${channels.length}`, { file, line, column: 'values' });
        for (let c = 0; c < channels.length; c++) {
          const v = jsonNumber(arr[c]);
          if (v === null) throw new InputError(`non-numeric value ${JSON.stringify(arr[c])}`, { file, line, column: `values[${c}]` });
          values[c] = v;
        }
      } else {
        for (let c = 0; c < channels.length; c++) {
          if (!(channels[c] in obj)) throw new InputError(`field "${channels[c]}" missing`, { file, line, column: channels[c] });
          const v = jsonNumber(obj[channels[c]]);
          if (v === null) throw new InputError(`non-numeric value ${JSON.stringify(obj[channels[c]])}`, { file, line, column: channels[c] });
          values[c] = v;
        }
      }
      const rec: SeriesRecord = { index: index++, line, values };
      if (tsName !== undefined && obj[tsName] !== undefined) {
        const raw = obj[tsName];
        rec.ts = typeof raw === 'number' ? raw : parseTimestamp(String(raw));
      }
      yield rec;
    }
  }
  return { header, file, records, excluded };
}

/** Opens a CSV (NAB's `timestamp,value` included) or JSON Lines file as a stream of records. */
export async function openSeries(file: string, opts: ReaderOptions = {}): Promise<SeriesSource> {
  await ensureReadable(file);
  const format = opts.format ?? detectFormat(file);
  return format === 'jsonl' ? openJsonl(file, opts) : openCsv(file, opts);
}
