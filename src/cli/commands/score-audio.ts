/**
 * `score` for audio models: clips in, one row per clip out (score.ts picks it by the
 * model's signal kind).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { audioConfigSchema, type AggregationMethod } from '../../features/audio/config.js';
import { CLIP_STATISTICS } from '../../features/audio/clip-stats.js';
import { audioSettingsOf, lookupLabel, readLabelsCsv, scoreClip, type ClipScore } from '../../features/audio/score.js';
import type { ScoringConfig } from '../../config/core.js';
import { loadConfigFile } from '../../config/load.js';
import { aucRoc, partialAucRoc } from '../../eval/metrics.js';
import type { ExecutionProvider } from '../../model/runtime.js';
import { AtomicOutput } from '../../jobs/score.js';
import { Detector } from '../../scoring/detector.js';
import { InputError, UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { expandPaths } from '../glob.js';
import { checkOutputFile } from '../output-check.js';

export const AUDIO_SCORE_USAGE = `noisefloor score --model <audio-model> <wav|glob>... [--labels <file,label csv>] [--out <file>]
                 [--format csv|jsonl] [--aggregation mean|max|topk] [--mode reconstruction|likelihood]
                 [--t0 F] [--steps N] [--fail-on-anomaly] [--config <file>] [--provider ...]
--mode/--t0/--steps other than the model's change the raw scores its calibration was
fitted on: a warning says so, and the score/anomaly columns are then not calibrated.
--report is for time-series models only (refused here, exit 2).

Audio models score clips: one row per clip with clip, score (combined clip score 0..1:
squared error, transients, spectral shift and level, each calibrated on normal data),
raw (aggregated raw window score), max_window_score, max_window_raw, anomaly, label,
windows, level_db, top_band_hz, top_frame_s, combined_z, top_statistic and the surprise
of each statistic (error_z, peak_z, shift_z, spectrum_z, spectrumDb_z, level_z, bandMax_z,
profile_z, knn_z); jsonl adds band_errors
(per mel band) and frame_errors (per log-mel frame). Labels come from --labels or from \`normal\`/\`abnormal\`
folders in the path; with both classes present, AUC and pAUC (FPR <= 0.1) go to stderr.`;

export async function audioScoreCommand(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      config: { type: 'string' },
      provider: { type: 'string' },
      labels: { type: 'string' },
      aggregation: { type: 'string' },
      mode: { type: 'string' },
      t0: { type: 'string' },
      steps: { type: 'string' },
      'fail-on-anomaly': { type: 'boolean' },
      report: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(AUDIO_SCORE_USAGE + '\n');
    return 0;
  }
  if (values.report !== undefined)
    throw new UsageError(
      '--report is not available for audio models (the HTML report draws time-series models); clips are ranked in the score output, ' +
        'with per-band and per-frame errors in --format jsonl',
    );
  if (!values.model) throw new UsageError('score needs --model <dir>');
  if (positionals.length === 0) throw new UsageError('score needs at least one input file');
  const format = values.format ?? (values.out?.endsWith('.jsonl') ? 'jsonl' : 'csv');
  if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`--format must be csv or jsonl, got "${values.format}"`);
  const aggregation = values.aggregation as AggregationMethod | undefined;
  if (aggregation && !['mean', 'max', 'topk'].includes(aggregation)) throw new UsageError(`--aggregation must be mean, max or topk`);
  const overrides: Partial<ScoringConfig> = {};
  if (values.mode) {
    if (values.mode !== 'reconstruction' && values.mode !== 'likelihood') throw new UsageError('--mode must be reconstruction or likelihood');
    overrides.mode = values.mode;
  }
  if (values.t0) {
    const t0 = Number(values.t0);
    if (!(t0 > 0 && t0 <= 1)) throw new UsageError(`--t0 must be in (0, 1], got "${values.t0}"`);
    overrides.t0 = t0;
  }
  if (values.steps) overrides.steps = Math.max(1, nonNegInt(values.steps, '--steps'));
  // The config contributes the runtime only; feature settings come from the model.
  const config = await loadConfigFile(audioConfigSchema, values.config);
  const provider = (values.provider ?? config.runtime.provider) as ExecutionProvider;
  if (!['cpu', 'cuda', 'tensorrt', 'webgpu', 'auto'].includes(provider)) throw new UsageError(`unknown --provider "${provider}"`);
  const files = await expandPaths(positionals);
  if (values.out) await checkOutputFile(values.out, '--out');
  const labels = values.labels ? await readLabelsCsv(values.labels) : null;
  const detector = await Detector.open(values.model, { provider, intraOpThreads: config.runtime.intraOpThreads }, log, overrides);
  const own = detector.model.manifest.scoring;
  const differs = (Object.keys(overrides) as (keyof ScoringConfig)[]).filter((k) => overrides[k] !== own[k]);
  // The calibration (score, anomaly) was fitted on held-out windows scored with the model's
  // own settings; other settings shift every raw score, so its threshold no longer holds.
  if (differs.length && detector.model.manifest.calibration)
    process.stderr.write(
      `warning: ${differs.map((k) => `--${k === 'mode' ? 'mode' : k} ${String(overrides[k])} (model: ${String(own[k])})`).join(', ')}: ` +
        "the model's calibration was fitted with its own settings, so the score and anomaly columns are not calibrated for these; " +
        'rank by raw (AUC and pAUC use raw scores), or train with these settings\n',
    );
  const settings = audioSettingsOf(detector);
  const bandHz = (detector.model.manifest.features?.bandHz as number[] | undefined) ?? [];
  const frameSeconds = settings.hop / settings.sampleRate;
  const output = values.out ? new AtomicOutput(values.out) : null;
  const out = output ? output.stream : process.stdout;
  const results: { clip: ClipScore; label: 0 | 1 | undefined }[] = [];
  const failed: string[] = [];
  const started = Date.now();
  try {
    if (format === 'csv')
      out.write(`clip,score,raw,max_window_score,max_window_raw,anomaly,label,windows,level_db,top_band_hz,top_frame_s,combined_z,top_statistic,${CLIP_STATISTICS.map((k) => `${k}_z`).join(',')}\n`);
    for (const f of files) {
      let clip: ClipScore;
      try {
        clip = await scoreClip(f, detector, { aggregation });
      } catch (e) {
        // One unreadable clip must not cost the others: scored on, reported, exit 2 at the end.
        if (!(e instanceof InputError)) throw e;
        failed.push(e.message);
        process.stderr.write(`noisefloor score: ${e.message} (clip skipped)\n`);
        continue;
      }
      const label = lookupLabel(labels, f);
      results.push({ clip, label });
      const topHz = bandHz[clip.topBand] !== undefined ? Math.round(bandHz[clip.topBand]) : clip.topBand;
      const topS = Number((clip.topFrame * frameSeconds).toFixed(3));
      if (format === 'csv') {
        const name = /[",\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f;
        out.write(
          [
            name,
            clip.score.toFixed(6),
            clip.raw.toPrecision(6),
            clip.maxScore.toFixed(6),
            clip.maxRaw.toPrecision(6),
            clip.anomaly ? '1' : '0',
            label ?? '',
            clip.windows,
            clip.levelDb.toFixed(2),
            topHz,
            topS,
            clip.stats ? clip.stats.combinedZ.toFixed(3) : '',
            clip.stats?.top ?? '',
            ...CLIP_STATISTICS.map((k) => (clip.stats ? clip.stats.z[k].toFixed(3) : '')),
          ].join(',') + '\n',
        );
      } else {
        const round = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(4)) : null);
        out.write(
          JSON.stringify({
            clip: f,
            score: Number(clip.score.toFixed(6)),
            raw: Number(clip.raw.toPrecision(6)),
            max_window_score: Number(clip.maxScore.toFixed(6)),
            max_window_raw: Number(clip.maxRaw.toPrecision(6)),
            anomaly: clip.anomaly ? 1 : 0,
            label: label ?? null,
            windows: clip.windows,
            anomalous_windows: clip.anomalousWindows,
            level_db: Number(clip.levelDb.toFixed(2)),
            top_band_hz: topHz,
            top_frame_s: topS,
            band_hz: bandHz.map((h) => Math.round(h)),
            band_errors: Array.from(clip.bandErrors, round),
            frame_seconds: frameSeconds,
            frame_errors: Array.from(clip.frameErrors, round),
            ...(clip.stats
              ? {
                  combined_z: round(clip.stats.combinedZ),
                  combined_p: clip.stats.combinedP,
                  top_statistic: clip.stats.top,
                  z: Object.fromEntries(CLIP_STATISTICS.map((k) => [k, round(clip.stats!.z[k])])),
                  shift_bands_hz: clip.stats.topShiftBands.map((m) => (bandHz[m] !== undefined ? Math.round(bandHz[m]) : m)),
                }
              : {}),
          }) + '\n',
        );
      }
    }
    if (output) await output.commit();
  } catch (e) {
    if (output) await output.abort();
    throw e;
  } finally {
    await detector.close();
  }
  const seconds = (Date.now() - started) / 1000;
  const audioSeconds = results.reduce((s, r) => s + r.clip.durationSeconds, 0);
  const anomalous = results.filter((r) => r.clip.anomaly).length;
  process.stderr.write(
    `scored ${results.length} clip(s), ${audioSeconds.toFixed(1)} s of audio in ${seconds.toFixed(1)}s with model ${detector.version} ` +
      `(aggregation ${aggregation ?? settings.aggregation}); ${anomalous} anomalous\n`,
  );
  const labelled = results.filter((r) => r.label !== undefined);
  const pos = labelled.filter((r) => r.label === 1).length;
  if (pos > 0 && pos < labelled.length) {
    const s = labelled.map((r) => r.clip.rank);
    const l = labelled.map((r) => r.label as number);
    const per = labelled[0].clip.stats
      ? '; per statistic AUC ' + CLIP_STATISTICS.map((k) => `${k} ${aucRoc(labelled.map((r) => r.clip.stats!.z[k]), l).toFixed(3)}`).join(', ')
      : '';
    process.stderr.write(
      `labelled ${labelled.length} clip(s) (${pos} abnormal): AUC ${aucRoc(s, l).toFixed(4)}, pAUC(FPR<=0.1) ${partialAucRoc(s, l, 0.1).toFixed(4)}` +
        `${labelled[0].clip.stats ? ' (combined clip score)' : ''}; RMS-level baseline AUC ${aucRoc(labelled.map((r) => r.clip.levelDb), l).toFixed(4)}${per}\n`,
    );
  } else if (labels || labelled.length) {
    process.stderr.write(`labels: ${labelled.length} clip(s) labelled, need both classes for AUC\n`);
  }
  log.debug('audio score done', { files: files.map((f) => path.basename(f)) });
  if (failed.length) {
    process.stderr.write(`${failed.length} of ${files.length} clip(s) could not be read and were skipped (exit 2):\n  ${failed.join('\n  ')}\n`);
    return 2;
  }
  return values['fail-on-anomaly'] && anomalous > 0 ? 1 : 0;
}

function nonNegInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a non-negative integer, got "${v}"`);
  return n;
}
