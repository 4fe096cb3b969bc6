import os from 'node:os';
import { buildEvaluationReport } from '../../eval/report.js';
import { writeReportFile } from './report.js';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../../config/load.js';
import { evaluateConfigSchema } from '../../eval/config.js';
import type { CorpusName } from '../../eval/engine.js';
import { runEvaluation } from '../../eval/evaluate.js';
import { UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { Progress } from '../progress.js';
import { parsePositiveInt } from './train.js';

export const EVALUATE_USAGE = `noisefloor evaluate --corpus nab|smap-msl|labelled-csv [--data <path>] [--config <file>]
                    [--out <dir>] [--jobs N] [--files <glob>[,<glob>...]]

Runs a labelled benchmark through the streaming pipeline (the daemon's windower,
detector and post-processing): per file, trains a model on its normal data (NAB: the
probationary first 15%; SMAP/MSL: the channel's train file; labelled-csv: <name>_train.csv
or the first evaluate.trainFraction of rows), streams the rest, maps window scores to
rows (causal: the newest window ending at or before each row) and scores them.
  nab           NAB v1.1 scores (three profiles, NAB's threshold optimiser) and NAB-format
                results under <out>/nab/nab-results/noisefloor/
  smap-msl      AUC-PR, VUS-PR, event-wise F1 (best and at the calibrated threshold),
                with robust-z and kNN baselines on the same windows
  labelled-csv  the same metrics for CSVs with a 0/1 label column
--data defaults to ../shared/data/nab or ../shared/data/smap_msl. Units run in parallel
(--jobs, default: the number of cores); finished units are cached in <out>/cache, so an
interrupted run resumes. Reports: <out>/<corpus>/report.md, report.json and report.html
(signals, scores, flags and labelled ranges of up to 30 units, with the metrics table).`;

const CORPORA: CorpusName[] = ['nab', 'smap-msl', 'labelled-csv'];

export async function evaluateCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      corpus: { type: 'string' },
      data: { type: 'string' },
      config: { type: 'string' },
      out: { type: 'string' },
      jobs: { type: 'string' },
      files: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(EVALUATE_USAGE + '\n');
    return 0;
  }
  const corpus = values.corpus as CorpusName | undefined;
  if (!corpus || !CORPORA.includes(corpus)) throw new UsageError(`evaluate needs --corpus ${CORPORA.join('|')}`);
  const dataDir = values.data ?? (corpus === 'nab' ? '../shared/data/nab' : corpus === 'smap-msl' ? '../shared/data/smap_msl' : undefined);
  if (!dataDir) throw new UsageError('labelled-csv needs --data <folder>');
  const jobs = values.jobs ? parsePositiveInt(values.jobs, '--jobs') : os.availableParallelism();
  if (jobs < 1) throw new UsageError('--jobs must be at least 1');
  const config = await loadConfigFile(evaluateConfigSchema, values.config);
  const outDir = values.out ?? path.join('eval-out');

  const progress = new Progress(`evaluate ${corpus}`);
  const started = Date.now();
  const result = await runEvaluation({
    corpus,
    dataDir,
    files: values.files,
    config,
    outDir,
    jobs,
    log,
    onProgress: (p) => {
      const elapsed = (Date.now() - started) / 1000;
      const fresh = p.done - p.cached;
      const eta = fresh > 0.05 ? (elapsed / fresh) * (p.total - p.done) : undefined;
      progress.update(
        p.done / p.total,
        `${Math.floor(p.done)}/${p.total} units (${p.cached} cached)${p.running.length ? ` running ${p.running.slice(0, 2).join(', ')}` : ''}`,
        eta,
        Number.isInteger(p.done),
      );
    },
  });
  progress.done(`${result.units.length} units in ${result.wallSeconds.toFixed(0)}s`);
  process.stdout.write(result.markdown + '\n');
  const html = path.join(outDir, corpus, 'report.html');
  await writeReportFile(html, await buildEvaluationReport(result, dataDir, config));
  process.stderr.write(`report written to ${path.join(outDir, corpus, 'report.md')} and ${html}\n`);
  return 0;
}
