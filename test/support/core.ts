import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { coreConfigSchema, type CoreConfig } from '../../src/config/core.js';
import { generateSeries, seriesToCsv, type InjectedAnomaly, type SyntheticOptions } from '../../src/ingest/synthetic.js';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

const tempDirs: string[] = [];

/** A fresh folder under the system temp dir, removed after the test file (test/support/cleanup.ts). */
export function tempDir(prefix = 'nf-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every folder tempDir() made in this test file. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A small configuration that trains in seconds on two cores. */
export function smallConfig(overrides: Record<string, unknown> = {}): CoreConfig {
  return coreConfigSchema.parse({
    window: { length: 32, hop: 4 },
    model: { arch: 'mixer', patch: 4, dim: 32, depth: 2, T: 100 },
    train: { epochs: 12, stepsPerEpoch: 40, batchSize: 64, patience: 4, maxWindows: 6000 },
    scoring: { t0: 0.3, steps: 4, samples: 2 },
    calibration: { targetFalseAlarmRate: 0.01 },
    ...overrides,
  });
}

export const smallConfigYaml = `
window: { length: 32, hop: 4 }
model: { arch: mixer, patch: 4, dim: 32, depth: 2, T: 100 }
train: { epochs: 8, stepsPerEpoch: 30, batchSize: 64, patience: 4 }
scoring: { t0: 0.3, steps: 4, samples: 2 }
# The CLI tests assert "no flag outside the incident" over ~250 normal windows: at a 1 % target
# about 2.5 false flags are expected by design, so the target is the default's 0.1 %.
calibration: { targetFalseAlarmRate: 0.001 }
`;

export function writeSeriesCsv(
  file: string,
  n: number,
  opts: SyntheticOptions = {},
  anomalies: InjectedAnomaly[] = [],
  withTimestamps = true,
): string {
  writeFileSync(file, seriesToCsv(generateSeries(n, opts, anomalies), undefined, withTimestamps ? Date.UTC(2026, 0, 1) : undefined));
  return file;
}
