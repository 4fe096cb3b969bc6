/**
 * Child process of `noisefloor evaluate --jobs N`: receives units over IPC, runs each with
 * the same `runUnit` as a single-process run, writes the cache entry and reports back.
 */
import { createLogger, logLevelFromEnv } from '../util/log.js';
import { runUnit } from './engine.js';
import { writeCached, type WorkerReply, type WorkerRequest } from './runner.js';

const log = createLogger({ level: logLevelFromEnv('warn'), base: { worker: process.pid } });

function send(m: WorkerReply): void {
  process.send?.(m);
}

process.on('message', (m: WorkerRequest) => {
  if (m.type !== 'run') return;
  const id = m.unit.id;
  let lastSent = 0;
  runUnit(m.unit, {
    config: m.config,
    modelDir: m.modelDir,
    key: m.key,
    log: log.child({ unit: id }),
    onRows: (rows, total) => {
      const now = Date.now();
      if (now - lastSent > 500 || rows === total) {
        lastSent = now;
        send({ type: 'rows', id, rows, total });
      }
    },
  }).then(
    (r) => {
      writeCached(m.cacheFile, r);
      send({ type: 'done', id });
    },
    (e: unknown) => send({ type: 'error', id, message: (e as Error).message ?? String(e), stack: (e as Error).stack }),
  );
});

process.on('disconnect', () => {
  // The wasm backend and ORT keep handles open; a released worker must still exit.
  setTimeout(() => process.exit(0), 20).unref();
});
