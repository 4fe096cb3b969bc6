import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NOISEFLOOR_VERSION } from '../../src/util/version.js';

describe('NOISEFLOOR_VERSION', () => {
  it('is the version package.json publishes', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(NOISEFLOOR_VERSION).toBe(pkg.version);
  });
});
