import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, logLevelFromEnv } from '../../src/util/log.js';

const saved = process.env.NOISEFLOOR_LOG_LEVEL;
afterEach(() => {
  if (saved === undefined) delete process.env.NOISEFLOOR_LOG_LEVEL;
  else process.env.NOISEFLOOR_LOG_LEVEL = saved;
});

describe('NOISEFLOOR_LOG_LEVEL, read in one place', () => {
  it('gives the caller its fallback when unset, the variable when set', () => {
    delete process.env.NOISEFLOOR_LOG_LEVEL;
    expect(logLevelFromEnv()).toBe('info');
    expect(logLevelFromEnv('warn')).toBe('warn');
    process.env.NOISEFLOOR_LOG_LEVEL = 'debug';
    expect(logLevelFromEnv('warn')).toBe('debug');
  });

  it('sets the level of a logger created without one', () => {
    process.env.NOISEFLOOR_LOG_LEVEL = 'error';
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.warn('dropped');
    log.error('kept');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['kept']);
  });
});
