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
