/**
 * Runs evaluation units with a per-unit result cache and up to `jobs` units at a time.
 *
 * Cache: `<out>/cache/<corpus>/<unit id>.json` holds the unit's `UnitResult`; its `key`
 * hashes the configuration (runtime settings and post-processing excluded), the code
 * version and the unit's data, so a run that was interrupted (or repeated with another
 * post-processing) reuses every finished unit and only computes the rest. Entries are
 * written atomically (temp file + rename).
 *
 * Parallelism: with jobs > 1, units run in child processes (`worker.ts`), each running
 * the very same `runUnit`; with jobs = 1, in this process. Each child uses one ORT
 * thread unless the configuration says otherwise, so N jobs use about N cores.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NOISEFLOOR_VERSION } from '../util/version.js';
import { createLogger, type Logger } from '../util/log.js';
import type { EvaluateConfig } from './config.js';
import { runUnit, unitKey, type EvalUnit, type UnitResult } from './engine.js';

export interface RunUnitsOptions {
  units: EvalUnit[];
  config: EvaluateConfig;
  outDir: string;
  jobs: number;
  log: Logger;
  /** Progress: finished units (fractional for running ones), total, cached units. */
  onProgress?: (p: { done: number; total: number; cached: number; computed: number; running: string[] }) => void;
}

export function cachePath(outDir: string, unit: EvalUnit): string {
  return path.join(outDir, 'cache', unit.corpus, ...unit.id.split('/').map(safeName)) + '.json';
}

function modelPath(outDir: string, unit: EvalUnit): string {
  return path.join(outDir, 'models', unit.corpus, ...unit.id.split('/').map(safeName));
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function readCached(file: string, key: string): UnitResult | null {
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as UnitResult;
    return r.key === key ? r : null;
  } catch {
    return null;
  }
}

export function writeCached(file: string, result: UnitResult): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(result));
  renameSync(tmp, file);
}

/** Messages between the runner and a worker process. */
export type WorkerRequest = { type: 'run'; unit: EvalUnit; config: EvaluateConfig; modelDir: string; cacheFile: string; key: string };
export type WorkerReply =
  | { type: 'rows'; id: string; rows: number; total: number }
  | { type: 'done'; id: string }
  | { type: 'error'; id: string; message: string; stack?: string };

function workerEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  // From source (vitest, tsx) the worker is TypeScript and needs tsx's loader.
  if (here.endsWith('.ts')) return { file: path.join(path.dirname(here), 'worker.ts'), execArgv: ['--import', 'tsx'] };
  return { file: path.join(path.dirname(here), 'worker.js'), execArgv: [] };
}

/** Runs (or loads from cache) every unit; results in unit order. */
export async function runUnits(opts: RunUnitsOptions): Promise<UnitResult[]> {
  const { units, config, outDir, log } = opts;
  // Per-model training logs are noise in a run of hundreds of models; debug shows them.
  const unitLog = log.level === 'debug' ? log : createLogger({ level: log.level === 'info' ? 'warn' : log.level });
  const results: (UnitResult | null)[] = new Array(units.length).fill(null);
  const keys: string[] = [];
  const todo: number[] = [];
  for (let i = 0; i < units.length; i++) {
    keys.push(await unitKey(units[i], config, NOISEFLOOR_VERSION));
    const cached = readCached(cachePath(outDir, units[i]), keys[i]);
    if (cached) results[i] = cached;
    else todo.push(i);
  }
  const cached = units.length - todo.length;
  if (cached) log.info('units taken from the cache', { cached, toCompute: todo.length });
  const partial = new Map<string, number>();
  let finished = cached;
  const report = () =>
    opts.onProgress?.({
      done: finished + [...partial.values()].reduce((a, b) => a + b, 0),
      total: units.length,
      cached,
      computed: finished - cached,
      running: [...partial.keys()],
    });
  report();

  const jobs = Math.max(1, Math.min(opts.jobs, todo.length));
  // Units one after another in this process, or one child process per job.
  const runConfig: EvaluateConfig =
    jobs > 1 && config.runtime.intraOpThreads === 0 ? { ...config, runtime: { ...config.runtime, intraOpThreads: 1 } } : config;
  const loadResult = (i: number) => {
    const r = readCached(cachePath(outDir, units[i]), keys[i]);
    if (!r) throw new Error(`worker finished ${units[i].id} but left no cache entry`);
    return r;
  };

  if (jobs === 1) {
    for (const i of todo) {
      const u = units[i];
      partial.set(u.id, 0);
      const r = await runUnit(u, {
        config: runConfig,
        modelDir: modelPath(outDir, u),
        log: unitLog.child({ unit: u.id }),
        key: keys[i],
        onRows: (rows, total) => {
          partial.set(u.id, 0.2 + (0.8 * rows) / total);
          report();
        },
      });
      writeCached(cachePath(outDir, u), r);
      results[i] = r;
      partial.delete(u.id);
      finished++;
      report();
    }
    return results as UnitResult[];
  }

  const queue = [...todo];
  const { file, execArgv } = workerEntry();
  const children: ChildProcess[] = [];
  let failure: Error | null = null;
  const runWorker = () =>
    new Promise<void>((resolve) => {
      const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NOISEFLOOR_LOG_LEVEL: unitLog.level } });
      children.push(child);
      let current = -1;
      const next = () => {
        if (failure || queue.length === 0) {
          child.disconnect();
          return;
        }
        current = queue.shift()!;
        const u = units[current];
        partial.set(u.id, 0);
        const msg: WorkerRequest = { type: 'run', unit: u, config: runConfig, modelDir: modelPath(outDir, u), cacheFile: cachePath(outDir, u), key: keys[current] };
        child.send(msg);
      };
      child.on('message', (m: WorkerReply) => {
        if (m.type === 'rows') {
          partial.set(m.id, 0.2 + (0.8 * m.rows) / m.total);
          report();
        } else if (m.type === 'done') {
          results[current] = loadResult(current);
          partial.delete(m.id);
          finished++;
          report();
          next();
        } else {
          failure ??= Object.assign(new Error(`${m.id}: ${m.message}`), { stack: m.stack });
          partial.delete(m.id);
          child.disconnect();
        }
      });
      child.on('exit', (code) => {
        if (current >= 0 && results[current] === null && !failure) failure = new Error(`worker for ${units[current].id} exited with code ${code}`);
        resolve();
      });
      next();
    });
  await Promise.all(Array.from({ length: jobs }, runWorker));
  if (failure) throw failure;
  return results as UnitResult[];
}
