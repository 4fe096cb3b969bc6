import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../util/errors.js';
import { globToRegExp } from '../util/glob.js';

const MAGIC = /[*?[]/;

/** Natural order: 2.csv before 10.csv, as people number files. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0);
}

async function walk(base: string, segs: string[], out: string[]): Promise<void> {
  if (segs.length === 0) {
    out.push(base);
    return;
  }
  const [seg, ...rest] = segs;
  if (seg === '**') {
    await walk(base, rest, out);
    let entries;
    try {
      entries = await readdir(base, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(path.join(base, e.name), segs, out);
    return;
  }
  if (!MAGIC.test(seg)) {
    const next = path.join(base, seg);
    try {
      await stat(next);
      await walk(next, rest, out);
    } catch {
      /* no match */
    }
    return;
  }
  const re = globToRegExp(seg);
  let entries;
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => naturalCompare(a.name, b.name)))
    if (re.test(e.name) && (rest.length === 0 ? e.isFile() : e.isDirectory())) await walk(path.join(base, e.name), rest, out);
}

/**
 * Expands quoted glob patterns (`*`, `?`, `[...]`, `**`) the shell left alone; plain
 * paths pass through unchanged so a missing file is reported by its reader. A pattern
 * that matches nothing is an input error.
 */
export async function expandPaths(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    if (!MAGIC.test(arg)) {
      out.push(arg);
      continue;
    }
    const abs = path.isAbsolute(arg);
    const segs = arg.split('/').filter((s, i) => s !== '' || i === 0);
    const base = abs ? '/' : '.';
    const matches: string[] = [];
    await walk(base, abs ? segs.slice(1) : segs, matches);
    if (matches.length === 0) throw new InputError(`pattern matched no files`, { file: arg });
    out.push(...[...new Set(matches)].sort(naturalCompare).map((m) => (abs ? m : path.normalize(m))));
  }
  return out;
}
