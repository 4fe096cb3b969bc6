/**
 * The daemon with batching.latencyTargetMs: a real model and a file replay, in process, so
 * the batching metrics can be read after the run. What is asserted is bookkeeping that
 * holds on any machine (every window scored once, every batch counted with a reason and a
 * latency, a cost measured), never a duration.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonConfigSchema } from '../../src/config/daemon.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { generateSeries, seriesToCsv } from '../../src/ingest/synthetic.js';
import { createLogger } from '../../src/util/log.js';
import { H, W, trainTinyModel } from './helpers.js';

let model: { dir: string; tmp: string };

beforeAll(async () => {
  model = await trainTinyModel();
}, 300_000);

afterAll(async () => {
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

async function metricValues(d: Daemon, name: string) {
  return (await d.metrics.registry.getSingleMetric(name)!.get()).values as { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

describe('serve with a latency target', () => {
  it('scores every window once and accounts for every batch: reason, queue age, latency, cost', async () => {
    const rows = 600;
    const files: string[] = [];
    for (let s = 0; s < 3; s++) {
      const f = path.join(model.tmp, `adaptive-${s}.csv`);
      await writeFile(f, seriesToCsv(generateSeries(rows, { seed: 900 + s, phase: s })));
      files.push(f);
    }
    const config = daemonConfigSchema.parse({
      model: { dir: model.dir, watch: false },
      source: { file: { paths: files, speed: 0 } },
      outputs: { stdout: { enabled: false } },
      http: { enabled: false },
      alerts: { enabled: false },
      batching: { maxBatch: 16, maxWaitMs: 10, queueCapacity: 64, latencyTargetMs: 50 },
      shutdownTimeoutMs: 60_000,
    });
    const d = new Daemon(config, createLogger({ level: 'error' }));
    await d.start();
    expect(await d.exited).toBe(0);

    const windows = 3 * (Math.floor((rows - W) / H) + 1);
    expect(d.stats.windowsScored).toBe(windows);
    const batches = d.stats.batches;
    expect(batches).toBeGreaterThan(1);

    const byReason = await metricValues(d, 'noisefloor_scoring_batches_total');
    expect(new Set(byReason.map((v) => v.labels.reason))).toEqual(new Set(['full', 'wait', 'deadline', 'backlog', 'drain']));
    expect(byReason.reduce((s, v) => s + v.value, 0)).toBe(batches);
    const count = async (name: string) => (await metricValues(d, name)).find((v) => v.metricName === `${name}_count`)?.value;
    expect(await count('noisefloor_queue_age_seconds')).toBe(batches);
    // No sink failed, so every batch was measured and its latency observed.
    expect(await count('noisefloor_window_latency_seconds')).toBe(batches);
    expect(d.batcher.controller.cost.observations).toBe(batches);
    const cost = await metricValues(d, 'noisefloor_scoring_cost_seconds');
    expect(cost.map((v) => v.labels.term).sort()).toEqual(['batch', 'window']);
    expect(cost.reduce((s, v) => s + v.value, 0)).toBeGreaterThan(0);
    const size = (await metricValues(d, 'noisefloor_scoring_batch_size'))[0].value;
    expect(size).toBeGreaterThanOrEqual(1);
    expect(size).toBeLessThanOrEqual(16);
    expect((await metricValues(d, 'noisefloor_queue_oldest_age_seconds'))[0].value).toBe(0);
  }, 120_000);
});
