/**
 * SLOW SUITE (npm run test:slow; not in npm test): the configured NAB evaluation
 * (config/evaluate-nab.yaml, the model and post-processing of the published headline) must add
 * detection on top of the range check. On art_daily_jumpsup the range check alone finds the
 * jump; art_daily_flatmiddle's anomaly (a flat stretch inside the normal range) it cannot see.
 * The smoke model of evaluate.test.ts does not beat the no-model ablation (measured equal), so
 * this check needs the real configuration: about 2-5 minutes on two shared cores.
 *
 * Measured (shared machine, 2.5 min; `noisefloor evaluate --corpus nab --config
 * config/evaluate-nab.yaml --files art_daily_flatmiddle.csv,art_daily_jumpsup.csv`): headline
 * 92.5 / 92.5 / 95.0 (standard / low FP / low FN); range check alone 46.5 / 46.5 / 47.7;
 * robust-z baseline 58.5 / 44.1 / 72.3; kNN baseline 86.9 / 81.4 / 91.3 (the model is ahead of
 * the kNN by 3.7-11 points here; not asserted: two files are too few for that claim).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { evaluateConfigSchema } from '../../src/eval/config.js';
import { loadConfigFile } from '../../src/config/load.js';
import { runEvaluation, type NabReport } from '../../src/eval/evaluate.js';
import { silentLogger } from '../../src/util/log.js';
import { repoRoot } from '../support/core.js';

/** NAB points the headline must be above the range check alone, in every profile. */
const MARGIN = 5;
const out = mkdtempSync(path.join(os.tmpdir(), 'nf-nab-quality-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('the configured NAB headline beats the range check alone (no model) by a margin in every profile', async () => {
  const config = await loadConfigFile(evaluateConfigSchema, path.join(repoRoot, 'config/evaluate-nab.yaml'));
  const run = await runEvaluation({
    corpus: 'nab',
    dataDir: path.resolve(repoRoot, '../shared/data/nab'),
    files: 'art_daily_flatmiddle.csv,art_daily_jumpsup.csv',
    config,
    outDir: out,
    jobs: 1,
    log: silentLogger,
  });
  const report = run.report as NabReport;
  const noModel = report.ablations.find((a) => a.name === 'spatial check 0.05 alone (no model)')!;
  const kNN = report.baselines.find((b) => b.name.startsWith('kNN'));
  const robustZ = report.baselines.find((b) => b.name === 'robust-z: likelihood + spatial 0.05')!;
  console.log(
    `NAB quality: headline ${report.headline.profiles.map((p) => p.score.toFixed(1)).join(' / ')}; no model ${noModel.profiles.map((p) => p.score.toFixed(1)).join(' / ')}; ${kNN?.name} ${kNN?.profiles.map((p) => p.score.toFixed(1)).join(' / ')}`,
  );
  report.headline.profiles.forEach((p, i) => {
    expect(noModel.profiles[i].profile).toBe(p.profile);
    expect(p.score, `${p.profile}: headline over the range check alone`).toBeGreaterThanOrEqual(noModel.profiles[i].score + MARGIN);
    expect(p.score, `${p.profile}: headline over the robust-z baseline`).toBeGreaterThanOrEqual(robustZ.profiles[i].score + MARGIN);
  });
}, 900_000);
