/**
 * MIMII fan id_00 (0 dB) evaluation: train on normal 00-09, test on normal 10-19 plus all
 * 20 abnormal clips; AUC and partial AUC (max FPR 0.1, sklearn-standardised) per model
 * configuration × scoring variant × clip aggregation, beside the trivial RMS-level
 * baseline. Labels (folder names) are used only for the metrics.
 *
 *   npm run build && node dist/bench/mimii.js [data-dir] [--only name,name] [--epochs N]
 *
 * Default data dir: ../shared/data/audio/mimii_fan_id00_0dB. Progress and timings go to
 * stderr, the Markdown table to stdout. Every configuration is listed (none is picked by
 * its test result); the headline row is the shipped default (config/audio.yaml, model and
 * scoring as shipped: `--only default` runs just that training). The shipped default was
 * chosen by the label-free protocol of bench/audio-select.ts, never by this table.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { audioConfigSchema, type AudioConfig } from '../src/audio/config.js';
import { fileLevelDb } from '../src/audio/features.js';
import { aggregateScores, scoreClip } from '../src/audio/score.js';
import { runAudioTrainJob } from '../src/audio/train.js';
import { loadConfigFile } from '../src/config/load.js';
import type { ScoringConfig } from '../src/config/core.js';
import { aucRoc, partialAucRoc } from '../src/eval/metrics.js';
import { Detector } from '../src/scoring/detector.js';
import { createLogger } from '../src/util/log.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const dataDir = path.resolve(positional[0] ?? path.resolve(repoRoot, '../shared/data/audio/mimii_fan_id00_0dB'));
const only = flag('--only')?.split(',');
const epochs = flag('--epochs') ? Number(flag('--epochs')) : undefined;
const log = createLogger({ level: (process.env.NOISEFLOOR_LOG_LEVEL as 'warn' | undefined) ?? 'warn' });

interface Variant {
  name: string;
  /** Deep-merged over config/audio.yaml. */
  audio?: Partial<Omit<AudioConfig['audio'], 'loudness'>> & { loudness?: Partial<AudioConfig['audio']['loudness']> };
  model?: Partial<AudioConfig['model']>;
}

/**
 * Model configurations (one training each), as deltas over config/audio.yaml: the first is
 * the shipped default (chosen label-free by bench/audio-select.ts, see docs/audio.md).
 */
const VARIANTS: Variant[] = [
  { name: 'default (window loudness)' },
  { name: 'no loudness norm', audio: { loudness: { mode: 'none' } } },
  { name: 'clip loudness', audio: { loudness: { mode: 'clip' } } },
  { name: '128 mels', audio: { nMels: 128 } },
  { name: '16 frames, patch 2', audio: { frames: 16, hopFrames: 4 }, model: { patch: 2 } },
];

/** Scoring settings tried on every trained model (no retraining needed). */
const SCORINGS: { name: string; s: Partial<ScoringConfig> }[] = [
  { name: 'shipped (config/audio.yaml scoring)', s: {} },
  { name: 'recon t0=0.3 K=5', s: { mode: 'reconstruction', t0: 0.3, steps: 5 } },
  { name: 'recon t0=0.1 K=3', s: { mode: 'reconstruction', t0: 0.1, steps: 3 } },
  { name: 'recon t0=0.5 K=5', s: { mode: 'reconstruction', t0: 0.5, steps: 5 } },
  { name: 'likelihood', s: { mode: 'likelihood' } },
];
const AGGS = ['mean', 'max', 'topk'] as const;

async function wavs(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.toLowerCase().endsWith('.wav'))
    .sort()
    .map((f) => path.join(dir, f));
}

const normals = await wavs(path.join(dataDir, 'normal'));
const abnormals = await wavs(path.join(dataDir, 'abnormal'));
const trainFiles = normals.slice(0, 10);
const testFiles = [...normals.slice(10), ...abnormals];
const labels = testFiles.map((_, i) => (i < normals.length - 10 ? 0 : 1));
const base = await loadConfigFile(audioConfigSchema, path.join(repoRoot, 'config/audio.yaml'));

const fmt = (v: number) => v.toFixed(3);
const rows: string[] = [];
const t0 = performance.now();

// Trivial baseline: the clip's RMS level.
const levels: number[] = [];
for (const f of testFiles) levels.push(await fileLevelDb(f, base.audio));
rows.push(`| RMS level (dB FS) baseline | - | - | ${fmt(aucRoc(levels, labels))} | ${fmt(partialAucRoc(levels, labels, 0.1))} | - | - |`);
process.stderr.write(`baseline RMS: AUC ${fmt(aucRoc(levels, labels))}\n`);

for (const v of VARIANTS) {
  if (only && !only.some((o) => v.name.includes(o))) continue;
  const config: AudioConfig = structuredClone(base);
  Object.assign(config.audio, { ...v.audio, loudness: { ...config.audio.loudness, ...v.audio?.loudness } });
  Object.assign(config.model, v.model ?? {});
  if (epochs) config.train.epochs = epochs;
  const parsed = audioConfigSchema.parse(config);
  const dir = await mkdtemp(path.join(tmpdir(), 'nf-mimii-'));
  try {
    const tt = performance.now();
    const job = await runAudioTrainJob({ files: trainFiles, outDir: path.join(dir, 'model'), config: parsed, log });
    const trainSec = (performance.now() - tt) / 1000;
    process.stderr.write(`${v.name}: trained ${job.result.epochsRun} epochs in ${trainSec.toFixed(0)} s (${job.trainWindows} windows)\n`);
    for (const sc of SCORINGS) {
      const det = await Detector.open(path.join(dir, 'model'), { provider: 'cpu', intraOpThreads: 0 }, log, sc.s);
      try {
        const ts = performance.now();
        const clips = [];
        for (const f of testFiles) clips.push(await scoreClip(f, det));
        const scoreSec = (performance.now() - ts) / 1000;
        for (const agg of AGGS) {
          const scores = clips.map((c) => aggregateScores(c.windowRaws, agg, parsed.audio.topkFraction));
          const auc = aucRoc(scores, labels);
          const pauc = partialAucRoc(scores, labels, 0.1);
          rows.push(
            `| ${v.name} | ${sc.name} | ${agg} | ${fmt(auc)} | ${fmt(pauc)} | ${trainSec.toFixed(0)} s / ${job.result.epochsRun} ep | ${scoreSec.toFixed(1)} s |`,
          );
          process.stderr.write(`  ${sc.name} ${agg}: AUC ${fmt(auc)} pAUC ${fmt(pauc)} (score ${scoreSec.toFixed(1)} s)\n`);
        }
      } finally {
        await det.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`MIMII fan id_00 0 dB: train normal 00-09 (${trainFiles.length}), test ${testFiles.length} clips (${labels.filter((l) => l === 0).length} normal, ${labels.filter((l) => l === 1).length} abnormal)\n`);
console.log('| model | scoring | clip aggregation | AUC | pAUC (FPR<=0.1) | train wall | score wall (30 clips) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\ntotal wall ${((performance.now() - t0) / 1000).toFixed(0)} s, node ${process.version}`);
