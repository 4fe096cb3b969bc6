import { writeFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readManifest } from '../../model/artifact.js';
import { openSeries, uniqueStreamNames } from '../../ingest/readers.js';
import { readerSettings } from '../../jobs/score.js';
import { ReportStreamCollector } from '../../jobs/report.js';
import { renderReport } from '../../report/index.js';
import type { ReportInput, ReportModelInfo } from '../../report/types.js';
import type { Detector } from '../../scoring/detector.js';
import type { ScoreEvent } from '../../scoring/types.js';
import { InputError, UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { expandPaths } from '../glob.js';
import { checkOutputFile } from '../output-check.js';
import { splitCsvLine } from '../../ingest/csv-line.js';
import { readFile } from 'node:fs/promises';

export const REPORT_USAGE = `noisefloor report <scores.csv|scores.jsonl> --data <file|glob>... --out <report.html> [--model <dir>]

Builds the HTML report from an existing score file (as written by \`score\`) and the
data files it scored (matched by stream name = file name without extension).`;

export function modelInfo(detector: Detector): ReportModelInfo {
  const m = detector.model.manifest;
  return {
    version: m.modelVersion,
    window: m.window.length,
    hop: m.window.hop,
    scoringMode: detector.scorer.params.mode,
    threshold: detector.threshold,
    extra: {
      provider: detector.model.runtime.provider,
      'target false-alarm rate': m.calibration?.targetFalseAlarmRate ?? 'uncalibrated',
      channels: m.channels.join(', '),
    },
  };
}

/** Writes the report through a temp file, so a failed render leaves nothing behind. */
export async function writeReportFile(file: string, input: ReportInput): Promise<void> {
  const tmp = `${file}.partial-${process.pid}`;
  try {
    await writeFile(tmp, renderReport(input));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

interface ScoreRow {
  stream: string;
  start: number;
  end: number;
  raw: number;
  score: number;
  anomaly: boolean;
  top: string;
  channelErrors: number[];
}

/** Reads a score file written by `score` (CSV or JSONL). */
export async function readScoreFile(file: string): Promise<ScoreRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read score file (${(e as NodeJS.ErrnoException).code ?? e})`, { file });
  }
  const lines = text.split('\n');
  const rows: ScoreRow[] = [];
  const num = (v: unknown, line: number, column: string): number => {
    const n = Number(v);
    if (v === '' || v === undefined || v === null || !Number.isFinite(n)) throw new InputError(`bad number ${JSON.stringify(v)}`, { file, line, column });
    return n;
  };
  if (file.endsWith('.jsonl') || lines[0]?.trimStart().startsWith('{')) {
    lines.forEach((l, i) => {
      if (!l.trim()) return;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(l);
      } catch {
        throw new InputError('invalid JSON', { file, line: i + 1 });
      }
      rows.push({
        stream: String(o.stream),
        start: num(o.start, i + 1, 'start'),
        end: num(o.end, i + 1, 'end'),
        raw: num(o.raw_score, i + 1, 'raw_score'),
        score: num(o.score, i + 1, 'score'),
        anomaly: Number(o.anomaly) === 1,
        top: String(o.top_channel ?? ''),
        channelErrors: Array.isArray(o.channel_errors) ? (o.channel_errors as number[]) : [],
      });
    });
    return rows;
  }
  const header = splitCsvLine(lines[0] ?? '');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new InputError(`score file has no "${name}" column`, { file, line: 1 });
    return i;
  };
  const [cs, cst, cen, craw, csc, can, ctop] = ['stream', 'start', 'end', 'raw_score', 'score', 'anomaly', 'top_channel'].map(col);
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    const c = splitCsvLine(lines[i]);
    rows.push({
      stream: c[cs],
      start: num(c[cst], i + 1, 'start'),
      end: num(c[cen], i + 1, 'end'),
      raw: num(c[craw], i + 1, 'raw_score'),
      score: num(c[csc], i + 1, 'score'),
      anomaly: c[can] === '1',
      top: c[ctop],
      channelErrors: [],
    });
  }
  return rows;
}

export async function reportCommand(argv: string[], _log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      data: { type: 'string', multiple: true },
      out: { type: 'string' },
      model: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(REPORT_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('report needs exactly one score file');
  if (!values.out) throw new UsageError('report needs --out <report.html>');
  if (!values.data?.length) throw new UsageError('report needs --data <files>');
  await checkOutputFile(values.out, '--out');
  const rows = await readScoreFile(positionals[0]);
  const manifest = values.model ? await readManifest(values.model) : null;
  const threshold = manifest?.calibration?.threshold ?? 0.999;
  const files = await expandPaths(values.data);
  const names = uniqueStreamNames(files);
  const streams = [];
  for (const [i, f] of files.entries()) {
    const src = await openSeries(f, manifest ? { ...readerSettings(manifest.input), channels: manifest.channels, stream: names[i] } : { stream: names[i] });
    const mine = rows.filter((r) => r.stream === src.header.stream);
    if (mine.length === 0) throw new InputError(`no rows for stream "${src.header.stream}" in ${positionals[0]}`, { file: f });
    const collector = new ReportStreamCollector(src.header.stream, src.header.channels);
    for await (const rec of src.records()) collector.addRecord(rec);
    const events: ScoreEvent[] = mine.map((r) => ({
      stream: r.stream,
      start: r.start,
      end: r.end,
      raw: r.raw,
      score: r.score,
      threshold,
      anomaly: r.anomaly,
      topChannels: r.top ? [r.top] : [],
      channelErrors: r.channelErrors.length ? r.channelErrors : src.header.channels.map((c) => (c === r.top ? r.raw : 0)),
      modelVersion: manifest?.modelVersion ?? 'unknown',
    }));
    collector.addEvents(events);
    streams.push(collector.build(threshold));
  }
  await writeReportFile(values.out, {
    title: `noisefloor report: ${path.basename(positionals[0])}`,
    generatedAt: new Date(),
    model: {
      version: manifest?.modelVersion ?? 'unknown',
      window: manifest?.window.length ?? 0,
      hop: manifest?.window.hop ?? 0,
      scoringMode: manifest?.scoring.mode ?? 'unknown',
      threshold,
    },
    streams,
  });
  process.stderr.write(`report written to ${values.out}\n`);
  return 0;
}
