/**
 * Model hot reload of `noisefloor serve`, as a real CLI process scoring the built-in
 * generator with a model directory of its own: SIGHUP after a new model was written, a
 * corrupt replacement (old model stays, scoring goes on), and the directory watch (a
 * replacement by rename, as `train` writes, and files overwritten in place) with no signal.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { coreConfigSchema } from '../../src/config/core.js';
import { generateSeries, seriesToCsv } from '../../src/ingest/synthetic.js';
import { MANIFEST_FILE, ONNX_FILE, manifestSchema, writeModelDir, type Manifest } from '../../src/model/artifact.js';
import { runTrainJob } from '../../src/jobs/train.js';
import { silentLogger } from '../../src/util/log.js';
import { ServeProcess, trainTinyModel, writeConfig, killRunning } from './helpers.js';

interface ModelFiles {
  onnx: Uint8Array;
  manifest: Manifest;
  version: string;
}

interface Event {
  stream: string;
  windowEnd: number;
  modelVersion: string;
}

let tmp: string;
let A: ModelFiles;
let B: ModelFiles;
const running: ServeProcess[] = [];

async function readModel(dir: string): Promise<ModelFiles> {
  const manifest = manifestSchema.parse(JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')));
  return { onnx: new Uint8Array(await readFile(path.join(dir, ONNX_FILE))), manifest, version: manifest.modelVersion };
}

beforeAll(async () => {
  // Model A: the shared tiny model (train seed 3); model B: same data and shapes, another seed.
  const a = await trainTinyModel();
  tmp = a.tmp;
  const files: string[] = [];
  for (let s = 0; s < 2; s++) {
    const f = path.join(tmp, `normal-b-${s}.csv`);
    await writeFile(f, seriesToCsv(generateSeries(500, { seed: 900 + s, phase: s * 5 })));
    files.push(f);
  }
  const config = coreConfigSchema.parse({
    window: { length: 32, hop: 8 },
    model: { dim: 32, depth: 1, patch: 8, timeDim: 16, T: 50 },
    train: { epochs: 2, stepsPerEpoch: 10, batchSize: 32, stride: 2, backend: 'cpu', seed: 11 },
    scoring: { samples: 2, steps: 3 },
    calibration: { targetFalseAlarmRate: 0.002 },
  });
  const bDir = path.join(tmp, 'model-b');
  await runTrainJob({ files, outDir: bDir, config, log: silentLogger });
  [A, B] = await Promise.all([readModel(a.dir), readModel(bDir)]);
});

afterEach(() => killRunning(running));

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A fresh model directory holding model A, and a daemon scoring generated streams with it. */
async function startDaemon(name: string, model: { watch: boolean; reloadDebounceMs: number }) {
  const dir = path.join(tmp, `watched-${name}`, 'model');
  await writeModelDir(dir, A.onnx, A.manifest);
  const file = await writeConfig(tmp, `serve-${name}`, {
    model: { dir, ...model },
    source: { generator: { streams: 2, rate: 40, anomalyRate: 0, seed: 5 } },
    outputs: { stdout: { enabled: true } },
    http: { port: 0, host: '127.0.0.1' },
    batching: { maxBatch: 8, maxWaitMs: 20, queueCapacity: 64 },
    alerts: { enabled: false },
    shutdownTimeoutMs: 20000,
  });
  const d = new ServeProcess(file);
  running.push(d);
  const events = () => d.stdout.map((l) => JSON.parse(l) as Event);
  await d.waitFor(() => d.log('http server listening').length > 0, 'http server up');
  const port = (d.log('http server listening')[0] as { port: number }).port;
  const get = async (p: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    return { status: res.status, text: await res.text() };
  };
  await d.waitFor(() => events().length >= 6, 'first windows scored with model A');
  return { d, dir, events, get };
}

/** Waits until `n` more windows were scored than now. */
function moreEvents(d: ServeProcess, n: number, what: string): Promise<void> {
  const from = d.stdout.length;
  return d.waitFor(() => d.stdout.length >= from + n, what);
}

function modelInfoVersions(metrics: string): string[] {
  return [...metrics.matchAll(/^noisefloor_model_info\{[^}]*version="([^"]+)"[^}]*\} 1$/gm)].map((m) => m[1]);
}

function reloads(metrics: string, result: 'success' | 'failure'): number {
  const m = new RegExp(`^noisefloor_model_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}

/** Model versions in output order: every A before every B (the swap happens between two batches). */
function versionRuns(events: Event[]): string[] {
  const out: string[] = [];
  for (const e of events) if (out.at(-1) !== e.modelVersion) out.push(e.modelVersion);
  return out;
}

describe('serve model hot reload', () => {
  it('(a) SIGHUP after a new model was written: swaps to it, metrics follow, scoring goes on', async () => {
    expect(A.version).not.toBe(B.version);
    // Watching, but with a debounce far beyond the test: only SIGHUP can cause the reload.
    const { d, dir, events, get } = await startDaemon('hup', { watch: true, reloadDebounceMs: 3_600_000 });
    expect(modelInfoVersions((await get('/metrics')).text)).toEqual([A.version]);
    expect(events().every((e) => e.modelVersion === A.version)).toBe(true);

    await writeModelDir(dir, B.onnx, B.manifest);
    d.kill('SIGHUP');
    await d.waitFor(() => events().some((e) => e.modelVersion === B.version), 'a window scored with model B');
    await moreEvents(d, 10, 'scoring goes on after the swap');

    expect(d.log('model reloaded; swapping before the next batch')).toEqual([
      expect.objectContaining({ level: 'info', reason: 'SIGHUP', version: B.version, previous: A.version }),
    ]);
    expect(d.log('model swapped')).toEqual([expect.objectContaining({ from: A.version, to: B.version })]);
    expect(versionRuns(events())).toEqual([A.version, B.version]);
    // Both generated streams go on being scored with B.
    expect(new Set(events().filter((e) => e.modelVersion === B.version).map((e) => e.stream))).toEqual(new Set(['gen-0', 'gen-1']));

    const metrics = (await get('/metrics')).text;
    expect(modelInfoVersions(metrics)).toEqual([B.version]);
    expect(reloads(metrics, 'success')).toBe(2); // start-up load + the reload
    expect(reloads(metrics, 'failure')).toBe(0);
    expect((await get('/readyz')).status).toBe(200);
    expect(d.logs.filter((l) => l.level === 'error')).toEqual([]);

    expect(d.proc.exitCode).toBeNull();
    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('(b) a corrupt replacement is refused: error logged, old model stays, scoring goes on; a good one is taken later', async () => {
    const { d, dir, events, get } = await startDaemon('corrupt', { watch: false, reloadDebounceMs: 1000 });
    // A valid manifest (announcing B's version) beside an ONNX file that is garbage.
    const garbage = new TextEncoder().encode('this is not an ONNX protobuf '.repeat(40));
    await writeModelDir(dir, garbage, B.manifest);
    d.kill('SIGHUP');
    await d.waitFor(() => d.log('model reload failed; keeping the loaded model').length > 0, 'reload failure logged');
    const failed = d.log('model reload failed; keeping the loaded model')[0];
    expect(failed).toMatchObject({ level: 'error', reason: 'SIGHUP', version: A.version });
    expect(JSON.stringify(failed.err)).toContain(ONNX_FILE);

    await moreEvents(d, 10, 'scoring goes on with the old model');
    expect(events().every((e) => e.modelVersion === A.version)).toBe(true);
    let metrics = (await get('/metrics')).text;
    expect(modelInfoVersions(metrics)).toEqual([A.version]);
    expect(reloads(metrics, 'failure')).toBe(1);
    // Still ready: the old model serves. A failed reload must not take every replica out
    // of its Service when a bad model is pushed to all of them; it is alerted on through
    // noisefloor_model_reloads_total{result="failure"} (NoisefloorModelReloadFailed).
    expect((await get('/readyz')).status).toBe(200);
    expect(d.proc.exitCode).toBeNull();

    // A loadable model with another window shape (hop 16 instead of 8) is refused too: the
    // running streams are cut on the old grid.
    const reshaped: Manifest = { ...B.manifest, modelVersion: `${B.version}-hop16`, window: { ...B.manifest.window, hop: 16 } };
    await writeModelDir(dir, B.onnx, reshaped);
    d.kill('SIGHUP');
    await d.waitFor(() => d.log('model reload failed; keeping the loaded model').length > 1, 'second reload failure logged');
    expect(JSON.stringify(d.log('model reload failed; keeping the loaded model')[1].err)).toContain('restart the daemon to change the window shape');
    await moreEvents(d, 6, 'scoring goes on with the old model');
    expect(events().every((e) => e.modelVersion === A.version && (e.windowEnd + 1 - 32) % 8 === 0)).toBe(true);
    expect(reloads((await get('/metrics')).text, 'failure')).toBe(2);

    // The directory is fixed: the next SIGHUP takes the good model and readiness recovers.
    await writeModelDir(dir, B.onnx, B.manifest);
    d.kill('SIGHUP');
    await d.waitFor(() => events().some((e) => e.modelVersion === B.version), 'a window scored with model B');
    expect(versionRuns(events())).toEqual([A.version, B.version]);
    metrics = (await get('/metrics')).text;
    expect(modelInfoVersions(metrics)).toEqual([B.version]);
    expect((await get('/readyz')).status).toBe(200);

    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('(c) watch: a directory replaced by rename, then files overwritten in place, are each swapped in after the debounce', async () => {
    const { d, dir, events, get } = await startDaemon('watch', { watch: true, reloadDebounceMs: 1000 });

    // Replaced the way `train` writes (sibling temp directory renamed into place); no signal.
    await writeModelDir(dir, B.onnx, B.manifest);
    await d.waitFor(() => events().some((e) => e.modelVersion === B.version), 'swapped to model B by the watch');
    expect(d.log('model reloaded; swapping before the next batch')).toEqual([
      expect.objectContaining({ reason: 'model directory changed', version: B.version, previous: A.version }),
    ]);
    expect(modelInfoVersions((await get('/metrics')).text)).toEqual([B.version]);

    // Then someone copies model A's files over the ones in the (new) directory.
    await writeFile(path.join(dir, ONNX_FILE), A.onnx);
    await writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(A.manifest, null, 2) + '\n');
    await d.waitFor(() => events().at(-1)?.modelVersion === A.version, 'swapped back to model A by the watch', 30_000);
    await moreEvents(d, 6, 'scoring goes on');
    expect(versionRuns(events())).toEqual([A.version, B.version, A.version]);
    expect(modelInfoVersions((await get('/metrics')).text)).toEqual([A.version]);
    // The debounce let each change settle: no half-written directory was ever loaded.
    expect(d.log('model reload failed; keeping the loaded model')).toEqual([]);

    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });
});
