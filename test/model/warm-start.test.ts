import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSeries, seriesToCsv } from '../../src/ingest/synthetic.js';
import { cliPath, tempDir } from '../support/core.js';

const dir = tempDir('nf-warm-');
const base = path.join(dir, 'base');
const configYaml = (dim: number) => `
window: { length: 32, hop: 4 }
model: { arch: mixer, patch: 4, dim: ${dim}, depth: 1, T: 100 }
train: { epochs: 3, stepsPerEpoch: 25, batchSize: 32, patience: 3, threads: 1 }
scoring: { t0: 0.3, steps: 3, samples: 2 }
calibration: { targetFalseAlarmRate: 0.01 }
`;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'warn' } });
  return { code: r.status, stderr: r.stderr };
}

function manifest(model: string) {
  return JSON.parse(readFileSync(path.join(model, 'noisefloor.json'), 'utf8'));
}

/** Normal data; `gain` scales every value, so a refitted normaliser differs from the base one. */
function writeData(name: string, rows: number, seed: number, gain = 1): string {
  const series = generateSeries(rows, { channels: 2, seed }).map((r) => r.map((v) => v * gain));
  const file = path.join(dir, name);
  writeFileSync(file, seriesToCsv(series));
  return file;
}

beforeAll(() => {
  writeFileSync(path.join(dir, 'config.yaml'), configYaml(16));
  writeFileSync(path.join(dir, 'other.yaml'), configYaml(24));
  const r = cli(['train', '--data', writeData('old.csv', 1500, 1), '--out', base, '--config', 'config.yaml']);
  expect(r.stderr).toContain('written to');
  expect(r.code).toBe(0);
}, 180_000);

describe('train --init (warm start)', () => {
  it('continues from the model: keeps its normaliser, starts from its weights and records where it came from', () => {
    const out = path.join(dir, 'tuned');
    const r = cli(['train', '--data', writeData('new.csv', 1500, 2, 3), '--out', out, '--config', 'config.yaml', '--init', base]);
    expect(r.stderr).toContain('written to');
    expect(r.code).toBe(0);
    const b = manifest(base);
    const m = manifest(out);
    expect(m.training.initFrom).toMatchObject({ version: b.modelVersion, normaliser: 'kept' });
    expect(m.normalisation).toEqual(b.normalisation);
    // A cold start on the same data would begin from the initialisation; the warm start's
    // first epoch already sits near the base model's last (same process, scaled by 3).
    const cold = path.join(dir, 'cold');
    expect(cli(['train', '--data', path.join(dir, 'new.csv'), '--out', cold, '--config', 'config.yaml']).code).toBe(0);
    const coldFirst = manifest(cold).training.valLoss[0];
    const warmFirst = m.training.valLoss[0];
    expect(warmFirst).toBeLessThan(coldFirst);
  }, 180_000);

  it('--refit-normaliser fits the normaliser on the new data', () => {
    const out = path.join(dir, 'refit');
    const r = cli(['train', '--data', path.join(dir, 'new.csv'), '--out', out, '--config', 'config.yaml', '--init', base, '--refit-normaliser']);
    expect(r.code).toBe(0);
    const m = manifest(out);
    expect(m.training.initFrom.normaliser).toBe('refitted');
    expect(m.normalisation.scale[0]).toBeGreaterThan(2 * manifest(base).normalisation.scale[0]);
  }, 180_000);

  it('refuses a model of another spec with exit 2, naming the difference', () => {
    const r = cli(['train', '--data', path.join(dir, 'new.csv'), '--out', path.join(dir, 'x'), '--config', 'other.yaml', '--init', base]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.dim: the model has 16, this configuration 24/);
  }, 60_000);

  it('refuses other channels with exit 2', () => {
    const three = path.join(dir, 'three.csv');
    writeFileSync(three, seriesToCsv(generateSeries(600, { channels: 3, seed: 4 })));
    const r = cli(['train', '--data', three, '--out', path.join(dir, 'y'), '--config', 'config.yaml', '--init', base]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/channels: the model has \[ch0, ch1\], the data \[ch0, ch1, ch2\]/);
  }, 60_000);
});
