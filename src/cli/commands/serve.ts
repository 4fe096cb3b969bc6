import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { daemonConfigSchema, redact, type DaemonConfig } from '../../config/daemon.js';
import { loadConfigFile } from '../../config/load.js';
import { Daemon } from '../../daemon/daemon.js';
import { deepFreeze } from '../../util/freeze.js';
import { UsageError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';

export const SERVE_USAGE = `noisefloor serve [--config <file>] [--model <dir>] [--print-config] [--log-format auto|text|json]
                 [--summary-every <seconds>]

Runs the streaming daemon: reads a Kafka topic (or replays a file, or runs the built-in
generator), scores windows with the model in micro-batches, writes score events (stdout
JSON lines, a Kafka topic), raises alerts and serves /metrics, /healthz, /readyz and
/api/streams on port 9464. With no config it trains a tiny model on synthetic data and
scores generated streams with injected anomalies. --print-config prints the effective
configuration (secrets redacted) and exits.
At a terminal (or with --log-format text) stdout shows one line per alert start and
resolve and a summary every --summary-every seconds (default 10: windows/s, streams,
anomalies, alerts firing, consumer lag) and where /metrics is; otherwise (or with
--log-format json) it carries one JSON score event per window, and alerts are log lines.
Signals: SIGTERM/SIGINT drain, commit and exit 0; SIGHUP reloads the model directory.`;

export async function serveCommand(argv: string[], log: Logger, ctx: { console: 'json' | 'text' } = { console: 'json' }): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      model: { type: 'string' },
      'print-config': { type: 'boolean' },
      'summary-every': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  const loaded: DaemonConfig = await loadConfigFile(daemonConfigSchema, values.config);
  if (values.model === '') throw new UsageError('--model needs a directory');
  // Flags make a new config; the validated one is frozen from here on, never changed.
  const config = deepFreeze<DaemonConfig>(values.model === undefined ? loaded : { ...loaded, model: { ...loaded.model, dir: values.model } });
  if (values['print-config']) {
    process.stdout.write(YAML.stringify(redact(config)));
    return 0;
  }
  const every = values['summary-every'] === undefined ? 10 : Number(values['summary-every']);
  if (!(every > 0)) throw new UsageError(`--summary-every must be a positive number of seconds, got "${values['summary-every']}"`);
  const daemon = new Daemon(config, log, ctx.console === 'text' ? { console: process.stdout, summaryIntervalMs: every * 1000 } : {});
  let signals = 0;
  const onStop = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn('second signal: exiting now', { signal: sig });
      process.exit(130);
    }
    void daemon.stop(sig);
  };
  const onHup = () => void daemon.reload('SIGHUP');
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  try {
    const started = daemon.start();
    try {
      // A stop signal during start-up (e.g. kafkajs still retrying a broker that does not
      // answer) ends it: waiting for start() held the signal until the connect retries ran
      // out, and then exited 1 with an unexpected error.
      const first = await Promise.race([started.then(() => 'started' as const), daemon.exited.then(() => 'stopped' as const)]);
      if (first === 'stopped') {
        started.catch(() => undefined);
        return await daemon.exited;
      }
    } catch (e) {
      await daemon.stop('start-up failed', (e as { exitCode?: number }).exitCode ?? 1).catch(() => undefined);
      throw e;
    }
    return await daemon.exited;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
}
