/**
 * MIMII fan id_00 (0 dB) evaluation: train on normal 00-09 (config/audio.yaml sets 3 of them
 * aside for the clip calibration), test on normal 10-19 plus all 20 abnormal clips, as
 * recorded and RMS-equalised (every test clip scaled to the training clips' mean RMS level,
 * so loudness says nothing); AUC and partial AUC (max FPR 0.1, sklearn-standardised) of the
 * combined clip score, of each clip statistic alone and of the previous clip score (mean
 * window raw), beside the trivial RMS-level baseline. Labels (folder names) are used only
 * for the metrics.
 *
 *   npm run build && node dist/bench/mimii.js [data-dir] [--only name,name] [--epochs N]
 *
 * Default data dir: ../shared/data/audio/mimii_fan_id00_0dB. Progress and timings go to
 * stderr, the Markdown table to stdout. Without --only just the shipped default
 * (config/audio.yaml) is trained; the other variants are named with --only. The shipped
 * default was chosen by the label-free protocol of bench/audio-select.ts, never by this
 * table.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { audioConfigSchema, type AudioConfig } from '../src/features/audio/config.js';
import { fileLevelDb } from '../src/features/audio/features.js';
import { CLIP_STATISTICS } from '../src/features/audio/clip-stats.js';
import { aggregateScores, scoreClip, type ClipScore } from '../src/features/audio/score.js';
import { runAudioTrainJob } from '../src/features/audio/train.js';
import { loadConfigFile } from '../src/config/load.js';
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
  { name: 'default' },
  { name: 'fMin 100', audio: { fMin: 100 } },
  { name: 'fMin 0', audio: { fMin: 0 } },
  { name: 'no calibration clips (tails)', audio: { calibrationClips: 0 } },
];

/** Clip scores reported per trained model: the shipped combined score, each statistic alone, the previous mean window raw. */
const COLUMNS: { name: string; of: (c: ClipScore) => number }[] = [
  { name: 'combined (shipped clipScores)', of: (c) => c.rank },
  ...CLIP_STATISTICS.map((k) => ({ name: `${k} z`, of: (c: ClipScore) => c.stats!.z[k] })),
  { name: 'window mean raw (previous clip score)', of: (c) => aggregateScores(c.windowRaws, 'mean') },
];

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
rows.push(`| RMS level (dB FS) baseline | as recorded | - | ${fmt(aucRoc(levels, labels))} | ${fmt(partialAucRoc(levels, labels, 0.1))} | | - | - |`);
process.stderr.write(`baseline RMS: AUC ${fmt(aucRoc(levels, labels))}\n`);

const trainLevels: number[] = [];
for (const f of trainFiles) trainLevels.push(await fileLevelDb(f, base.audio));
const normalLevel = trainLevels.reduce((a, b) => a + b, 0) / trainLevels.length;
process.stderr.write(`training clips' mean RMS level ${normalLevel.toFixed(2)} dB FS (the RMS-equalised test clips are brought to it)\n`);

for (const v of VARIANTS) {
  if (only ? !only.includes(v.name) : v.name !== 'default') continue;
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
    const calFiles = (job.manifest.features?.clipCalibration as { files?: string[] } | undefined)?.files ?? [];
    process.stderr.write(`${v.name}: trained ${job.result.epochsRun} epochs in ${trainSec.toFixed(0)} s (${job.trainWindows} windows; clip calibration on ${calFiles.join(', ') || 'validation tails'})\n`);
    const det = await Detector.open(path.join(dir, 'model'), { provider: 'cpu', intraOpThreads: 1 }, log);
    try {
      for (const input of ['as recorded', 'RMS-equalised'] as const) {
        const ts = performance.now();
        const clips: ClipScore[] = [];
        for (let i = 0; i < testFiles.length; i++)
          clips.push(await scoreClip(testFiles[i], det, input === 'RMS-equalised' ? { gainDb: normalLevel - levels[i] } : {}));
        const scoreSec = (performance.now() - ts) / 1000;
        const audioSec = clips.reduce((a, c) => a + c.durationSeconds, 0);
        const flaggedN = clips.filter((c, i) => c.anomaly && labels[i] === 0).length;
        // Calibration check on the clean test clips: the combined decision at other nominal rates.
        const atRate = (rate: number, label: 0 | 1) => clips.filter((c, i) => labels[i] === label && c.stats && c.stats.combinedP <= rate).length;
        process.stderr.write(
          `  ${input} combined decision at nominal 0.1 / 1 / 5 %: normal ${[0.001, 0.01, 0.05].map((r) => atRate(r, 0)).join(' / ')} of ${labels.filter((l) => l === 0).length}, abnormal ${[0.001, 0.01, 0.05].map((r) => atRate(r, 1)).join(' / ')} of ${labels.filter((l) => l === 1).length}\n`,
        );
        const flaggedA = clips.filter((c, i) => c.anomaly && labels[i] === 1).length;
        for (const col of COLUMNS) {
          const scores = clips.map(col.of);
          const auc = aucRoc(scores, labels);
          const pauc = partialAucRoc(scores, labels, 0.1);
          const flags = col.name.startsWith('combined') ? `${flaggedA}/20 abnormal, ${flaggedN}/10 normal` : '';
          rows.push(`| ${v.name} | ${input} | ${col.name} | ${fmt(auc)} | ${fmt(pauc)} | ${flags} | ${trainSec.toFixed(0)} s / ${job.result.epochsRun} ep | ${scoreSec.toFixed(1)} s (RTF ${(audioSec / scoreSec).toFixed(0)}x) |`);
          process.stderr.write(`  ${input} ${col.name}: AUC ${fmt(auc)} pAUC ${fmt(pauc)} ${flags}\n`);
        }
      }
    } finally {
      await det.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`MIMII fan id_00 0 dB: train normal 00-09 (${trainFiles.length}), test ${testFiles.length} clips (${labels.filter((l) => l === 0).length} normal, ${labels.filter((l) => l === 1).length} abnormal)\n`);
console.log('| model | test clips | clip score | AUC | pAUC (FPR<=0.1) | flagged (combined decision) | train wall | score wall (30 clips, 1 thread) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\ntotal wall ${((performance.now() - t0) / 1000).toFixed(0)} s, node ${process.version}`);
