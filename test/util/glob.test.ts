import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/cli/glob.js';
import { unitFilter } from '../../src/eval/evaluate.js';
import { globToRegExp } from '../../src/util/glob.js';

describe('one glob dialect', () => {
  it('matches * and ? within a segment, ** across, [...] and [!...] classes, everything else literally', () => {
    const m = (p: string, s: string) => globToRegExp(p).test(s);
    expect(m('*.csv', 'a.csv')).toBe(true);
    expect(m('*.csv', 'd/a.csv')).toBe(false);
    expect(m('**/x.csv', 'a/b/x.csv')).toBe(true);
    expect(m('a?.csv', 'ab.csv')).toBe(true);
    expect(m('a?.csv', 'a/.csv')).toBe(false);
    expect(m('[ab].csv', 'b.csv')).toBe(true);
    expect(m('[!ab].csv', 'b.csv')).toBe(false);
    expect(m('[!ab].csv', 'c.csv')).toBe(true);
    expect(m('v1.csv', 'v1xcsv')).toBe(false);
    expect(m('(a)+$.csv', '(a)+$.csv')).toBe(true);
    expect(m('[x.csv', '[x.csv')).toBe(true);
  });

  it('is what file arguments and evaluation unit filters both use', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nf-glob-'));
    try {
      await mkdir(path.join(dir, 'sub'));
      for (const f of ['a1.csv', 'a2.csv', 'b1.csv', 'sub/a3.csv']) await writeFile(path.join(dir, f), 'x\n1\n');
      expect((await expandPaths([path.join(dir, '[a]?.csv')])).map((f) => path.relative(dir, f))).toEqual(['a1.csv', 'a2.csv']);
      expect((await expandPaths([path.join(dir, '**/a*.csv')])).map((f) => path.relative(dir, f))).toEqual(['a1.csv', 'a2.csv', 'sub/a3.csv']);
      const keep = unitFilter('sub/[a]?.csv, b*');
      expect(['a1.csv', 'b1.csv', 'sub/a3.csv'].filter(keep)).toEqual(['b1.csv', 'sub/a3.csv']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
