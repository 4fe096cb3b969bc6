/**
 * Splits one CSV line into fields (RFC 4180 quoting: "a ""b""" -> a "b"). Lines with
 * embedded newlines inside quotes are not supported: sensor exports do not produce them,
 * and supporting them would defeat line-numbered error messages.
 */
export function splitCsvLine(line: string, delimiter = ','): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field.length === 0) quoted = true;
    else if (ch === delimiter) {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}

/** Parses a numeric cell. Empty, NaN and NA cells are missing (NaN); anything else non-numeric is null. */
export function parseNumericCell(cell: string): number | null {
  const s = cell.trim();
  if (s === '' || s === 'NaN' || s === 'nan' || s === 'NA' || s === 'null') return Number.NaN;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/** Epoch milliseconds when the text is a number or a date, else the text itself. */
export function parseTimestamp(cell: string): number | string {
  const s = cell.trim();
  if (s === '') return s;
  const n = Number(s);
  if (Number.isFinite(n)) return n;
  // NAB writes "2014-04-01 00:00:00" (no zone): read it as UTC so results do not depend on TZ.
  const iso = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s) ? s.replace(' ', 'T') + 'Z' : s;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? s : t;
}

/** Delimiters a CSV file may use, in the order ties are broken. */
export const CSV_DELIMITERS = [',', ';', '\t', '|'] as const;

function countOutsideQuotes(line: string, ch: string): number {
  let n = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ch) n++;
  }
  return n;
}

/**
 * The delimiter of a CSV file from its first lines: the candidate (`,` `;` tab `|`) that
 * splits the first line into the most fields and splits the second line the same way when
 * there is one. Semicolon files with decimal commas ("1,5;2,7") are why the count on the
 * first line alone is not enough. A line with none of them is one column: `,`.
 */
export function sniffDelimiter(first: string, second?: string): string {
  let best = ',';
  let bestCount = 0;
  for (const d of CSV_DELIMITERS) {
    const n = countOutsideQuotes(first, d);
    if (n === 0) continue;
    if (second !== undefined && countOutsideQuotes(second, d) !== n) continue;
    if (n > bestCount) {
      best = d;
      bestCount = n;
    }
  }
  if (bestCount === 0 && second !== undefined) return sniffDelimiter(first);
  return best;
}

/** How a delimiter is written in messages and YAML (a tab is invisible). */
export function describeDelimiter(d: string): string {
  return d === '\t' ? '"\\t" (tab)' : JSON.stringify(d);
}

const DATE_CELL = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** True when a cell is a calendar date or date-time (2024-01-31, 2024-01-31 10:00:00). */
export function isDateCell(cell: string): boolean {
  return DATE_CELL.test(cell.trim());
}

/**
 * True when a split line is data, not a header: every cell is a number, a date or a
 * missing value, and at least one is a number. Column names are never all numbers, so a numeric first line
 * means the file has no header.
 */
export function isDataRow(cells: string[]): boolean {
  let numbers = 0;
  for (const c of cells) {
    const v = parseNumericCell(c);
    if (v === null) {
      if (!isDateCell(c)) return false;
    } else if (!Number.isNaN(v)) numbers++;
    // A missing value (empty, NA) says nothing either way.
  }
  return numbers > 0;
}
