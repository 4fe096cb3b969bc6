import { readFileSync } from 'node:fs';
import { sniffDelimiter, splitCsvLine } from '../ingest/csv-line.js';
import { InputError } from '../util/errors.js';

/**
 * Small whole-file readers for benchmark data: a delimited table (comma, or the delimiter
 * sniffed from the header), its lines split by the series readers' CSV line reader
 * (ingest/csv-line.ts, RFC 4180 quoting).
 */
export interface CsvTable {
  file: string;
  header: string[];
  /** Data rows, header excluded; rows[i] came from line i + 2 of the file. */
  rows: string[][];
}

/** `delimiter`: default sniffed from the header line (`,` `;` tab `|`), as the series readers do. */
export function readCsvTable(file: string, delimiter?: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read file: ${(e as Error).message}`, { file }, { cause: e });
  }
  return parseCsvTable(text, file, delimiter);
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read file: ${(e as Error).message}`, { file }, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`invalid JSON: ${(e as Error).message}`, { file }, { cause: e });
  }
}

export function parseCsvTable(text: string, file: string, delimiter?: string): CsvTable {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new InputError('empty file, expected a header line', { file, line: 1 });
  const sep = delimiter ?? sniffDelimiter(stripCr(lines[0]), lines.length > 1 ? stripCr(lines[1]) : undefined);
  const header = splitCsvLine(stripCr(lines[0]), sep).map((h) => h.trim());
  const rows: string[][] = [];
  for (let i = 1; i < lines.length; i++) {
    const fields = splitCsvLine(stripCr(lines[i]), sep);
    if (fields.length !== header.length) {
      throw new InputError(`expected ${header.length} fields, found ${fields.length}`, { file, line: i + 1 });
    }
    rows.push(fields);
  }
  return { file, header, rows };
}

export function columnIndex(table: CsvTable, name: string): number {
  const idx = table.header.indexOf(name);
  if (idx < 0) throw new InputError(`missing column "${name}"`, { file: table.file, line: 1, column: name });
  return idx;
}

/** Parses one numeric field; `row` is the 0-based data row index. */
export function numberAt(table: CsvTable, row: number, col: number): number {
  const raw = table.rows[row][col].trim();
  const v = raw === '' ? NaN : Number(raw);
  if (!Number.isFinite(v)) {
    throw new InputError(`not a finite number: "${raw}"`, {
      file: table.file,
      line: row + 2,
      column: table.header[col],
    });
  }
  return v;
}

function stripCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}
