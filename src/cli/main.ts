#!/usr/bin/env node
import { createLogger, logLevelFromEnv } from '../util/log.js';
import { isNoisefloorError, UsageError } from '../util/errors.js';
import { evaluateCommand } from './commands/evaluate.js';
import { scoreCommand, SCORE_USAGE } from './commands/score.js';
import { serveCommand, SERVE_USAGE } from './commands/serve.js';
import { trainCommand, TRAIN_USAGE } from './commands/train.js';
import { reportCommand, REPORT_USAGE } from './commands/report.js';

const USAGE = `noisefloor: streaming anomaly detection with a diffusion model

Commands:
  serve     the streaming daemon (Kafka, file replay, generator) (noisefloor serve --help)
  train     fit a model on normal data            (noisefloor train --help)
  score     score recorded files                  (noisefloor score --help)
  evaluate  run a labelled benchmark (NAB, SMAP/MSL) (noisefloor evaluate --help)
  report    HTML report from a score file         (noisefloor report --help)

Exit codes: 0 ok, 1 anomalies found (score --fail-on-anomaly) or runtime failure,
2 usage, configuration or input error, 130 interrupted.
Logs go to stderr: readable lines on a terminal, JSON lines otherwise or with
--log-format json (any command; also NOISEFLOOR_LOG_FORMAT); NOISEFLOOR_LOG_LEVEL=debug|info|warn|error.

${SERVE_USAGE}

${TRAIN_USAGE}

${SCORE_USAGE}

${REPORT_USAGE}`;

/** `console`: what `serve` writes on stdout, readable lines ('text') or score events as JSON lines. */
type Command = (argv: string[], log: ReturnType<typeof createLogger>, ctx: { console: 'json' | 'text' }) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  train: trainCommand,
  score: scoreCommand,
  evaluate: evaluateCommand,
  report: reportCommand,
  serve: serveCommand,
};

/**
 * `--log-format json|text|auto` (any command): auto is text when the stream is a terminal,
 * JSON otherwise (pipes, files, log shippers). Removed from argv before the command parses it.
 */
function takeLogFormat(argv: string[]): { argv: string[]; format: 'json' | 'text' | 'auto' } {
  const out: string[] = [];
  let format = process.env.NOISEFLOOR_LOG_FORMAT ?? 'auto';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--log-format') format = argv[++i] ?? '';
    else if (argv[i].startsWith('--log-format=')) format = argv[i].slice('--log-format='.length);
    else out.push(argv[i]);
  }
  if (format !== 'json' && format !== 'text' && format !== 'auto') throw new UsageError(`--log-format must be json, text or auto, got "${format}"`);
  return { argv: out, format };
}

async function main(rawArgv: string[]): Promise<number> {
  let parsed: ReturnType<typeof takeLogFormat>;
  try {
    parsed = takeLogFormat(rawArgv);
  } catch (e) {
    process.stderr.write(`noisefloor: ${(e as Error).message}\n`);
    return 2;
  }
  const { argv, format } = parsed;
  const logFormat = format === 'auto' ? (process.stderr.isTTY ? 'text' : 'json') : format;
  const log = createLogger({ level: logLevelFromEnv(), format: logFormat });
  const consoleFormat = format === 'auto' ? (process.stdout.isTTY ? 'text' : 'json') : format;
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await cmd(rest, log, { console: consoleFormat });
  } catch (e) {
    if (isNoisefloorError(e)) {
      process.stderr.write(`noisefloor ${name}: ${e.message}\n`);
      log.debug('error', { error: e, stack: e.stack });
      return e.exitCode;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`noisefloor ${name}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`noisefloor ${name}: unexpected error: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

// `noisefloor score ... | head`: the reader went away; stop quietly as other CLI tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The wasm backend and ORT keep handles open; a finished command must still exit.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (e) => {
    process.stderr.write(String(e) + '\n');
    process.exit(1);
  },
);
