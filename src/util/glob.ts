/**
 * Glob patterns as regular expressions, one dialect for every place noisefloor matches
 * names: `*` and `?` within a path segment, `[...]` a character class (`[!...]` negated),
 * `**` across segments. cli/glob.ts walks the file system with it (one segment at a time),
 * eval/evaluate.ts filters unit ids with it.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        re += '[' + pattern.slice(i + 1, close).replace(/^!/, '^') + ']';
        i = close;
      }
    } else re += ch.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
