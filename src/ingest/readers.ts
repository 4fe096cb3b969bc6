import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, InputLimitError } from '../util/errors.js';
import { parseNumericCell, parseTimestamp, splitCsvLine } from './csv-line.js';
import type { SeriesHeader, SeriesRecord } from './types.js';

export type FileFormat = 'csv' | 'jsonl';

export interface ReaderOptions {
  /** Channel names to read; default: every numeric column (CSV) or field (JSONL). */
  channels?: string[];
  /** Timestamp column/field; default: the first of timestamp, ts, time, datetime, date if present. */
  timestampColumn?: string | null;
  /** Stream name; default: the file name without extension. */
  stream?: string;
  delimiter?: string;
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

export interface SeriesSource {
  header: SeriesHeader;
  file: string;
  records(): AsyncIterable<SeriesRecord>;
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

async function openCsv(file: string, opts: ReaderOptions): Promise<SeriesSource> {
  const delimiter = opts.delimiter ?? ',';
  const head = await firstLines(file, 2, opts.maxLineBytes);
  if (head.length === 0) throw new InputError('file has no header line', { file });
  const columns = splitCsvLine(head[0].text, delimiter).map((c) => c.trim());
  checkChannelCount(columns.length, opts, file, head[0].line);
  if (head.length < 2) throw new InputError('file has a header but no data rows', { file, line: head[0].line });
  const tsName =
    opts.timestampColumn === null
      ? undefined
      : (opts.timestampColumn ?? columns.find((c) => TIMESTAMP_NAMES.includes(c.toLowerCase())));
  const tsIndex = tsName === undefined ? -1 : columns.indexOf(tsName);
  if (tsName !== undefined && tsIndex < 0)
    throw new InputError(`timestamp column "${tsName}" not in header (${columns.join(', ')})`, { file, line: head[0].line });

  let channelIdx: number[];
  if (opts.channels && opts.channels.length > 0) {
    channelIdx = opts.channels.map((name) => {
      const i = columns.indexOf(name);
      if (i < 0) throw new InputError(`column "${name}" not in header (${columns.join(', ')})`, { file, line: head[0].line, column: name });
      return i;
    });
  } else {
    // "All numeric" is decided on the first data row; later non-numeric cells are errors.
    const first = splitCsvLine(head[1].text, delimiter);
    channelIdx = columns.map((_, i) => i).filter((i) => i !== tsIndex && parseNumericCell(first[i] ?? '') !== null);
    if (channelIdx.length === 0) throw new InputError('no numeric columns found in the first data row', { file, line: head[1].line });
  }
  const channels = channelIdx.map((i) => columns[i]);
  const header: SeriesHeader = { stream: opts.stream ?? streamNameOf(file), channels, hasTimestamps: tsIndex >= 0 };

  async function* records(): AsyncGenerator<SeriesRecord> {
    let index = 0;
    let sawHeader = false;
    for await (const { text, line } of numberedLines(file, opts.maxLineBytes)) {
      if (text.trim() === '') continue;
      if (!sawHeader) {
        sawHeader = true;
        continue;
      }
      const cells = splitCsvLine(text, delimiter);
      if (cells.length !== columns.length)
        throw new InputError(`ragged row: ${cells.length} fields, header has ${columns.length}`, { file, line });
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
  return { header, file, records };
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
  let channels: string[];
  if (arrayMode) {
    const n = (first.values as unknown[]).length;
    channels = opts.channels && opts.channels.length === n ? opts.channels : Array.from({ length: n }, (_, i) => `value${i}`);
  } else if (opts.channels && opts.channels.length > 0) {
    for (const c of opts.channels)
      if (!(c in first)) throw new InputError(`field "${c}" missing`, { file, line: head[0].line, column: c });
    channels = opts.channels;
  } else {
    channels = keys.filter((k) => k !== tsName && k !== 'stream' && typeof first[k] === 'number');
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
  return { header, file, records };
}

/** Opens a CSV (NAB's `timestamp,value` included) or JSON Lines file as a stream of records. */
export async function openSeries(file: string, opts: ReaderOptions = {}): Promise<SeriesSource> {
  await ensureReadable(file);
  const format = opts.format ?? detectFormat(file);
  return format === 'jsonl' ? openJsonl(file, opts) : openCsv(file, opts);
}
