import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { OutputError } from '../util/errors.js';

/**
 * Checks before any work that `file` can be written: its folder exists and is writable,
 * and the name is not a folder. Scoring a large file and then losing the result to a typo
 * in --out is the failure this prevents.
 */
export async function checkOutputFile(file: string, flag: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  try {
    if ((await stat(file)).isDirectory()) throw new OutputError(`${flag} ${file} is a directory; give a file name, e.g. ${path.join(file, flag === '--report' ? 'report.html' : 'scores.csv')}`);
  } catch (e) {
    if (e instanceof OutputError) throw e;
  }
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    throw new OutputError(`${flag} ${file}: directory ${dir} does not exist; create it first`);
  }
  if (!isDir) throw new OutputError(`${flag} ${file}: ${dir} is not a directory`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new OutputError(`${flag} ${file}: directory ${dir} is not writable`);
  }
}

/** One line for a failed write (ENOENT, EACCES, EISDIR, ENOSPC), naming the file. */
export function outputErrorOf(e: unknown, flag: string, file: string, extra = ''): OutputError {
  const err = e as NodeJS.ErrnoException;
  const reason = err?.code === 'ENOSPC' ? 'no space left on the device' : (err?.code ?? String(e));
  return new OutputError(`${flag} ${file}: cannot write (${reason})${extra}`, { cause: e });
}
