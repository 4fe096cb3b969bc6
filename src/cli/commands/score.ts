import { parseArgs } from 'node:util';
import { coreConfigSchema, type DataConfig } from '../../config/core.js';
import { loadConfigFile } from '../../config/load.js';
import type { ExecutionProvider } from '../../model/runtime.js';
import { AtomicOutput, DEFAULT_ORDER_POLICY, openForModel, scoreSource, ScoreWriter, type FileSummary, type OutputFormat } from '../../jobs/score.js';
import path from 'node:path';
import { Detector, toScoreEvent } from '../../scoring/detector.js';
import { loadModel, readManifest } from '../../model/artifact.js';
import { rawThreshold } from '../../scoring/calibration.js';
import { explicitKeys, scoreSettingsFrom } from '../score-settings.js';
import { uniqueStreamNames } from '../../ingest/readers.js';
import { ReportStreamCollector } from '../../jobs/report.js';
import { modelInfo, writeReportFile } from './report.js';
import { UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { expandPaths } from '../glob.js';
import { checkOutputFile, outputErrorOf } from '../output-check.js';
import { audioScoreCommand } from './score-audio.js';
import { signalKindOf, type SignalKind } from '../../features/index.js';

export const SCORE_USAGE = `noisefloor score --model <dir> <file|glob>... [--out <file>] [--format csv|jsonl]
                 [--fail-on-anomaly] [--report <report.html>] [--config <file>]
                 [--provider cpu|cuda|tensorrt|webgpu|auto] [--allowed-lateness <ms>]

Scores recorded files window by window: one row per window with stream, start, end
(row indices, inclusive), start_ts, end_ts (when the file has timestamps), raw_score,
score (calibrated, 0..1), anomaly (0/1), top_channel; a summary goes to stderr.
--report writes a self-contained HTML report (signal, scores, threshold, alerts).
Rows with timestamps are windowed in timestamp order like serve does: a row more than
--allowed-lateness ms (default 0) behind the newest is dropped as late, a repeated
timestamp as duplicate (counted on stderr).
--config applies scoring.*, window.hop, calibration.targetFalseAlarmRate, runtime.* and
data reading settings; keys fixed at training (data.channels, window.length, model.*,
train.*) are refused unless they equal the model's.
Exit codes: 0 ok, 1 anomalies found (with --fail-on-anomaly), 2 usage or input error.
An audio model (trained on WAV) scores clips instead: noisefloor score --model <audio-model> --help.`;

/**
 * How each signal kind scores recorded files: time series window by window, audio clip by
 * clip. The flags and output columns differ per kind; a new kind adds its entry here.
 */
const SCORE_COMMANDS: Record<SignalKind, (argv: string[], log: Logger) => Promise<number>> = {
  timeseries: scoreWindowsCommand,
  audio: audioScoreCommand,
};

export async function scoreCommand(argv: string[], log: Logger): Promise<number> {
  return SCORE_COMMANDS[await modelKind(modelArg(argv))](argv, log);
}

/** The value of --model in raw argv (--model X or --model=X). */
export function modelArg(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--model') return argv[i + 1];
    if (argv[i].startsWith('--model=')) return argv[i].slice('--model='.length);
  }
  return undefined;
}

/** The model's signal kind; time series when there is none to read (that command then reports why). */
async function modelKind(dir: string | undefined): Promise<SignalKind> {
  if (!dir) return 'timeseries';
  try {
    return signalKindOf(await readManifest(dir));
  } catch {
    return 'timeseries';
  }
}

/** Time-series models: one row per window. */
async function scoreWindowsCommand(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      config: { type: 'string' },
      provider: { type: 'string' },
      'fail-on-anomaly': { type: 'boolean' },
      report: { type: 'string' },
      'allowed-lateness': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(SCORE_USAGE + '\n');
    return 0;
  }
  if (!values.model) throw new UsageError('score needs --model <dir>');
  if (positionals.length === 0) throw new UsageError('score needs at least one input file');
  const format = (values.format ?? (values.out?.endsWith('.jsonl') ? 'jsonl' : 'csv')) as OutputFormat;
  if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`--format must be csv or jsonl, got "${values.format}"`);
  const config = await loadConfigFile(coreConfigSchema, values.config);
  const provider = (values.provider ?? config.runtime.provider) as ExecutionProvider;
  if (!['cpu', 'cuda', 'tensorrt', 'webgpu', 'auto'].includes(provider)) throw new UsageError(`unknown --provider "${provider}"`);
  const lateness = Number(values['allowed-lateness'] ?? 0);
  if (!(Number.isFinite(lateness) && lateness >= 0)) throw new UsageError(`--allowed-lateness must be milliseconds >= 0, got "${values['allowed-lateness']}"`);
  const files = await expandPaths(positionals);
  if (values.out) await checkOutputFile(values.out, '--out');
  if (values.report) await checkOutputFile(values.report, '--report');
  // Every key the --config sets is applied or refused (scoreSettingsFrom), never ignored.
  const settings = scoreSettingsFrom(await explicitKeys(values.config), config, await readManifest(values.model));
  const model = await loadModel(values.model, { provider, intraOpThreads: config.runtime.intraOpThreads }, log);
  const cal = model.manifest.calibration;
  if (cal && settings.targetFalseAlarmRate !== undefined) {
    const rate = settings.targetFalseAlarmRate;
    model.manifest = { ...model.manifest, calibration: { ...cal, targetFalseAlarmRate: rate, thresholdRaw: rawThreshold(cal, rate), threshold: 1 - rate } };
  }
  const detector = new Detector(model, settings.scoring);
  for (const n of settings.notes) process.stderr.write(`note: --config ${n}\n`);
  const output = values.out ? new AtomicOutput(values.out) : null;
  const summaries: FileSummary[] = [];
  const collectors: ReportStreamCollector[] = [];
  const started = Date.now();
  let reportFailure: Error | null = null;
  try {
    // Open every file first: a missing column is reported before any row is written.
    const data: Partial<DataConfig> = config.data;
    const sources = [];
    const names = uniqueStreamNames(files);
    for (const [i, f] of files.entries()) sources.push(await openForModel(f, detector, data, names[i]));
    const withTs = sources.some((s) => s.header.hasTimestamps);
    const writer = new ScoreWriter(output ? output.stream : process.stdout, format, detector.channelNames, withTs);
    for (const src of sources) {
      const s: FileSummary = { file: src.file, stream: src.header.stream, rows: 0, windows: 0, anomalous: 0, maxScore: 0, maxRaw: 0 };
      const collector = values.report ? new ReportStreamCollector(src.header.stream, detector.channelNames) : null;
      if (collector) collectors.push(collector);
      const res = await scoreSource(src, detector, (ws, rs) => {
        writer.write(ws, rs);
        collector?.addEvents(rs.map((r, i) => toScoreEvent(ws[i], r, detector.channelNames, detector.threshold, detector.version)));
        for (const r of rs) {
          if (r.anomaly) s.anomalous++;
          if (r.score > s.maxScore) s.maxScore = r.score;
          if (r.raw > s.maxRaw) s.maxRaw = r.raw;
        }
      }, 256, collector ? (rec) => collector.addRecord(rec) : undefined, { ...DEFAULT_ORDER_POLICY, allowedLatenessMs: lateness }, settings.hop);
      s.rows = res.rows;
      s.windows = res.windows;
      if (res.late || res.duplicate) process.stderr.write(`${src.file}: ${res.late} row(s) dropped as late, ${res.duplicate} as duplicate timestamps (--allowed-lateness ${lateness} ms)\n`);
      summaries.push(s);
    }
    // The scores first: a report that cannot be written must not cost the scores.
    if (output) await output.commit();
    if (values.report) {
      try {
        await writeReportFile(values.report, {
          title: `noisefloor report: ${files.map((f) => path.basename(f)).join(', ')}`,
          generatedAt: new Date(),
          model: modelInfo(detector),
          streams: collectors.map((c) => c.build(detector.threshold)),
        });
      } catch (e) {
        reportFailure = outputErrorOf(e, '--report', values.report, output ? `; the scores were written to ${output.file}` : '');
      }
      if (!reportFailure) process.stderr.write(`report written to ${values.report}\n`);
    }
  } catch (e) {
    if (output) await output.abort();
    throw e;
  } finally {
    await detector.close();
  }
  const seconds = (Date.now() - started) / 1000;
  let anomalous = 0;
  for (const s of summaries) {
    anomalous += s.anomalous;
    process.stderr.write(
      `${s.file}: ${s.rows} rows, ${s.windows} windows, ${s.anomalous} anomalous (max score ${s.maxScore.toFixed(4)}, max raw ${s.maxRaw.toPrecision(4)})\n`,
    );
  }
  process.stderr.write(
    `scored ${summaries.reduce((a, s) => a + s.windows, 0)} windows from ${summaries.length} file(s) in ${seconds.toFixed(1)}s with model ${detector.version}; ${anomalous} anomalous\n`,
  );
  if (reportFailure) throw reportFailure;
  return values['fail-on-anomaly'] && anomalous > 0 ? 1 : 0;
}
