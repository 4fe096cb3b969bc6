import type { EvaluateConfig } from './config.js';
import type { EvalUnit, UnitResult } from './engine.js';
import type { EvaluateRunResult, NabReport, RangeReport } from './evaluate.js';
import { columnIndex, numberAt, readCsvTable } from './csv.js';
import { runsOf } from './metrics.js';
import { loadNabCorpus } from './nab.js';
import { loadSmapLabels, smapRowLabels } from './smap.js';
import { openSeries } from '../ingest/readers.js';
import { ReportStreamCollector } from '../jobs/report.js';
import type { ReportInput, ReportRange } from '../report/types.js';
import type { ScoreEvent } from '../scoring/types.js';

/** Units drawn in one report: past this the page gets long; the rest are in report.md. */
export const MAX_REPORT_UNITS = 30;

/** Labelled anomaly ranges (rows, inclusive) of every unit, read only to draw them. */
function labelRanges(run: EvaluateRunResult, dataDir: string, config: EvaluateConfig): Map<string, ReportRange[]> {
  const out = new Map<string, ReportRange[]>();
  if (run.report.corpus === 'nab') {
    const corpus = loadNabCorpus(dataDir);
    for (const u of run.units) out.set(u.id, (corpus.byPath.get(u.id)?.windows ?? []).map((w) => ({ ...w, name: 'NAB anomaly window' })));
  } else if (run.report.corpus === 'smap-msl') {
    const labels = loadSmapLabels(dataDir);
    for (const u of run.units) {
      const entry = labels.get(u.id);
      out.set(u.id, entry ? runsOf(smapRowLabels(entry)).map((r) => ({ ...r, name: 'labelled anomaly' })) : []);
    }
  } else {
    for (const u of run.units) {
      const t = readCsvTable(u.testFile, config.data.delimiter);
      const c = columnIndex(t, config.evaluate.labelColumn);
      out.set(u.id, runsOf(Uint8Array.from(t.rows, (_, k) => (numberAt(t, k, c) === 1 ? 1 : 0))).map((r) => ({ ...r, name: 'labelled anomaly' })));
    }
  }
  return out;
}

function metricsTable(report: NabReport | RangeReport): Record<string, string | number> {
  const m: Record<string, string | number> = {};
  if (report.corpus === 'nab') {
    const nab = report as NabReport;
    for (const p of nab.headline.profiles) m[`NAB score, ${p.profile}`] = Number(p.score.toFixed(2));
    for (const b of nab.baselines) for (const p of b.profiles) m[`NAB score, ${p.profile} (${b.name} baseline)`] = Number(p.score.toFixed(2));
    return m;
  }
  for (const row of (report as RangeReport).aggregate) {
    m[`${row.detector}: AUC-PR`] = Number(row.aucPr.toFixed(3));
    m[`${row.detector}: VUS-PR`] = Number(row.vusPr.toFixed(3));
    m[`${row.detector}: best composite event F1`] = Number(row.bestCompositeF1.toFixed(3));
    if (row.calibratedEventF1 !== undefined) m[`${row.detector}: event F1 at the calibrated threshold`] = Number(row.calibratedEventF1.toFixed(3));
  }
  return m;
}

async function unitStream(unit: EvalUnit, result: UnitResult, config: EvaluateConfig, threshold: number, labels: ReportRange[]) {
  const src = await openSeries(unit.testFile, { channels: result.channels, delimiter: config.data.delimiter, header: config.data.header, timestampColumn: config.data.timestampColumn });
  const collector = new ReportStreamCollector(unit.id, result.channels);
  for await (const rec of src.records()) collector.addRecord(rec);
  const W = config.window.length;
  const version = result.models[0]?.version ?? 'unknown';
  const events: ScoreEvent[] = result.windowEnd.map((end, i) => ({
    stream: unit.id,
    start: Math.max(0, end - W + 1),
    end,
    raw: result.raw[i],
    score: result.score[i],
    threshold,
    anomaly: result.flagged[i] === 1,
    topChannels: [],
    channelErrors: [],
    modelVersion: version,
  }));
  collector.addEvents(events);
  const stream = collector.build(threshold);
  stream.labels = labels;
  return stream;
}

/**
 * The HTML report of an evaluation: per unit the signal, the window scores against the
 * calibrated threshold, flags, alerts and the labelled anomaly ranges, plus the corpus
 * metrics table. Units with labelled anomalies come first; at most MAX_REPORT_UNITS.
 */
export async function buildEvaluationReport(run: EvaluateRunResult, dataDir: string, config: EvaluateConfig): Promise<ReportInput> {
  const labels = labelRanges(run, dataDir, config);
  const threshold = 1 - config.calibration.targetFalseAlarmRate;
  const order = run.units
    .map((u, i) => ({ u, r: run.results[i], n: labels.get(u.id)?.length ?? 0 }))
    .sort((a, b) => Number(b.n > 0) - Number(a.n > 0) || a.u.id.localeCompare(b.u.id, 'en', { numeric: true }))
    .slice(0, MAX_REPORT_UNITS);
  const streams = [];
  for (const { u, r } of order) streams.push(await unitStream(u, r, config, threshold, labels.get(u.id) ?? []));
  const shown = streams.length < run.units.length ? ` (${streams.length} of ${run.units.length} units shown)` : '';
  return {
    title: `noisefloor evaluate: ${run.report.corpus}${shown}`,
    generatedAt: new Date(),
    model: {
      version: 'one model per unit (see report.md)',
      window: config.window.length,
      hop: config.window.hop,
      scoringMode: config.scoring.mode,
      threshold,
    },
    metrics: metricsTable(run.report),
    streams,
  };
}
