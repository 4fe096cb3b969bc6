/**
 * `evaluate` and `score` agree: the window scores evaluate computes for a unit (and turns into
 * its metrics) are the ones `noisefloor score` writes for the same file with the model evaluate
 * trained (kept under <out>/models/...), window for window. A drift between the two paths would
 * make the published benchmark numbers describe another detector than the one users run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { evaluateConfigSchema, type EvaluateConfig } from '../../src/eval/config.js';
import { runEvaluation } from '../../src/eval/evaluate.js';
import { generateSeries } from '../../src/ingest/synthetic.js';
import { silentLogger } from '../../src/util/log.js';
import { cliPath, repoRoot } from '../support/core.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-eval-score-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('evaluate (labelled-csv) and score give the same raw score for every window of the evaluated rows', async () => {
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  spawnSync('mkdir', ['-p', data]);
  const n = 1500;
  const rows = generateSeries(n, { seed: 8 }, [{ kind: 'decorrelate', start: 1000, end: 1080, channel: 1 }]);
  const lines = ['timestamp,ch0,ch1,ch2,label'];
  rows.forEach((r, i) => lines.push([new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(), ...Array.from(r, (x) => x.toFixed(5)), i >= 1000 && i <= 1080 ? 1 : 0].join(',')));
  const file = path.join(data, 'unit.csv');
  writeFileSync(file, lines.join('\n') + '\n');

  const base = await loadConfigFile(evaluateConfigSchema, path.join(repoRoot, 'config/evaluate-smoke.yaml'));
  const config: EvaluateConfig = { ...base, evaluate: { ...base.evaluate, trainFraction: 0.3, adaptation: { ...base.evaluate.adaptation, everyRows: 0 }, baselines: { ...base.evaluate.baselines, enabled: false } } };
  const run = await runEvaluation({ corpus: 'labelled-csv', dataDir: data, config, outDir: out, jobs: 1, log: silentLogger });
  const unit = run.results[0];
  expect(unit.models).toHaveLength(1);
  expect(unit.raw.length).toBeGreaterThan(900);

  const modelDir = path.join(out, 'models', 'labelled-csv', 'unit.csv', 'm0');
  const r = spawnSync(process.execPath, [cliPath, 'score', '--model', modelDir, file, '--format', 'jsonl'], { encoding: 'utf8', env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'warn' } });
  expect(r.status, r.stderr).toBe(0);
  const scored = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { end: number; raw_score: number })
      .map((x) => [x.end, x.raw_score]),
  );
  // Every window evaluate scored is in score's output (same grid), with the same raw score.
  const missing = unit.windowEnd.filter((e) => !scored.has(e));
  expect(missing).toEqual([]);
  const worst = unit.windowEnd.reduce((m, e, i) => Math.max(m, Math.abs(scored.get(e)! - unit.raw[i]) / Math.max(1e-9, Math.abs(unit.raw[i]))), 0);
  expect(worst).toBeLessThan(1e-4);
}, 300_000);
