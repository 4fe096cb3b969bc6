import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/daemon/metrics.js';
import { repoRoot } from '../support/core.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

describe('README stays true', () => {
  it('documents every exported metric', () => {
    // Sink metrics share one table row: noisefloor_alert_sink_deliveries_total, `_failures_total`, ...
    const missing = METRIC_NAMES.filter((m) => !readme.includes(m) && !readme.includes(m.replace('noisefloor_alert_sink', '')));
    expect(missing).toEqual([]);
  });

  it('starts with the two commands: the embedded default and the tests', () => {
    const firstBlock = readme.slice(readme.indexOf('```sh'), readme.indexOf('```', readme.indexOf('```sh') + 5));
    expect(firstBlock).toContain('node dist/src/cli/main.js serve');
    expect(firstBlock).toContain('npm test');
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    expect(pkg.bin.noisefloor).toBe('dist/src/cli/main.js');
    expect(readFileSync(path.join(repoRoot, '.ci/run'), 'utf8')).toContain('npm test');
  });
});
