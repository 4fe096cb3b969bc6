/**
 * The sources that are not Kafka, through the real `serve` CLI: a recorded CSV replayed as
 * fast as possible scores exactly what `noisefloor score` scores offline for the same file
 * (same windows, same raw scores: offline and live agree), flags the injected anomaly and
 * exits once the file is done; the generator produces the configured streams, each on the
 * window grid, and stops after maxSteps.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSeries, seriesToCsv } from '../../src/ingest/synthetic.js';
import { CLI, H, ROOT, W, daemonFixture, writeConfig } from './helpers.js';

interface Event {
  stream: string;
  windowStart: number;
  windowEnd: number;
  startTs?: number | string;
  endTs?: number | string;
  raw: number;
  score: number;
  anomaly: boolean;
  topChannels: string[];
  modelVersion: string;
}

interface OfflineRow {
  stream: string;
  start: number;
  end: number;
  start_ts?: string;
  end_ts?: string;
  raw_score: number;
  score: number;
  anomaly: 0 | 1;
  top_channel: string;
}

const fx = daemonFixture();

const serve = (file: string) => fx.start(file);

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const base = {
  outputs: { stdout: { enabled: true } },
  http: { port: 0, host: '127.0.0.1' },
  alerts: { enabled: false },
  batching: { maxBatch: 16, maxWaitMs: 10, queueCapacity: 64 },
  shutdownTimeoutMs: 20000,
};

describe('serve file source', () => {
  it('replays CSVs at speed 0: flags the anomaly, scores window for window what `noisefloor score` scores, exits 0', async () => {
    const rows = 400;
    const anomaly = { kind: 'level' as const, start: 200, end: 250, channel: 0 };
    const hot = path.join(fx.model.tmp, 'replay-hot.csv');
    const calm = path.join(fx.model.tmp, 'replay-calm.csv');
    await writeFile(hot, seriesToCsv(generateSeries(rows, { seed: 4242, phase: 3 }, [anomaly]), undefined, Date.UTC(2024, 2, 1), 1000));
    await writeFile(calm, seriesToCsv(generateSeries(rows, { seed: 4343, phase: 11 }), undefined, Date.UTC(2024, 2, 1), 1000));

    const d = serve(await writeConfig(fx.model.tmp, 'file-replay', { ...base, model: { dir: fx.model.dir, watch: false }, source: { file: { paths: [hot, calm], speed: 0 } } }));
    // The replay is finite: the daemon scores everything, then stops by itself.
    expect(await d.exited).toBe(0);
    expect(d.log('file replayed')).toHaveLength(2);
    const events = d.stdout.map((l) => JSON.parse(l) as Event);
    const windows = Math.floor((rows - W) / H) + 1;
    expect(d.log('stopped')[0]).toMatchObject({ code: 0, windowsScored: 2 * windows });
    // Each file is one stream named after it, windows in order on the grid.
    expect(new Set(events.map((e) => e.stream))).toEqual(new Set(['replay-hot', 'replay-calm']));
    const live = (s: string) => events.filter((e) => e.stream === s);
    for (const s of ['replay-hot', 'replay-calm']) {
      expect(live(s).map((e) => e.windowStart)).toEqual(Array.from({ length: windows }, (_, j) => j * H));
      expect(live(s).map((e) => e.windowEnd)).toEqual(Array.from({ length: windows }, (_, j) => j * H + W - 1));
    }

    const off = await run(['score', '--model', fx.model.dir, hot, calm, '--format', 'jsonl']);
    expect(off.code, off.stderr).toBe(0);
    const offline = off.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as OfflineRow);
    expect(offline).toHaveLength(2 * windows);
    for (const s of ['replay-hot', 'replay-calm']) {
      const o = offline.filter((r) => r.stream === s);
      // Offline and live agree window for window: identity, raw score, calibrated score, verdict, top channel, timestamps.
      expect(live(s).map((e) => [e.windowStart, e.windowEnd, e.raw, e.score, e.anomaly, e.topChannels[0]])).toEqual(
        o.map((r) => [r.start, r.end, r.raw_score, r.score, r.anomaly === 1, r.top_channel]),
      );
      expect(live(s).map((e) => [new Date(e.startTs!).getTime(), new Date(e.endTs!).getTime()])).toEqual(
        o.map((r) => [Date.parse(r.start_ts!), Date.parse(r.end_ts!)]),
      );
    }

    // The windows lying over the anomaly are flagged; the others (at most one false alarm) are not.
    const overlap = (e: Event) => Math.min(e.windowEnd, anomaly.end) - Math.max(e.windowStart, anomaly.start) + 1;
    const inside = live('replay-hot').filter((e) => overlap(e) >= H);
    expect(inside.length).toBeGreaterThanOrEqual(6);
    expect(inside.filter((e) => !e.anomaly)).toEqual([]);
    expect(inside.every((e) => e.topChannels[0] === 'ch0')).toBe(true);
    const falseAlarms = [...live('replay-hot').filter((e) => overlap(e) <= 0), ...live('replay-calm')].filter((e) => e.anomaly);
    expect(falseAlarms.length).toBeLessThanOrEqual(1);
  });
  it('replays two files of the same name as two streams, named by their folders (issue 15.9)', async () => {
    // Streams are named after the file; two "day.csv" must not interleave their rows into one window ring.
    const files: string[] = [];
    for (const sub of ['site-a', 'site-b']) {
      await mkdir(path.join(fx.model.tmp, sub), { recursive: true });
      const f = path.join(fx.model.tmp, sub, 'day.csv');
      await writeFile(f, seriesToCsv(generateSeries(120, { seed: sub.length + files.length })));
      files.push(f);
    }
    const d = serve(await writeConfig(fx.model.tmp, 'file-twins', { ...base, model: { dir: fx.model.dir, watch: false }, source: { file: { paths: files, speed: 0 } } }));
    expect(await d.exited).toBe(0);
    expect(d.log('file replayed').map((l) => l.stream).sort()).toEqual(['site-a/day', 'site-b/day']);
    const events = d.stdout.map((l) => JSON.parse(l) as { stream: string; windowEnd: number });
    expect(new Set(events.map((e) => e.stream))).toEqual(new Set(['site-a/day', 'site-b/day']));
    // Each stream has its own ring: every window of each file, on its own grid.
    for (const s of ['site-a/day', 'site-b/day']) expect(events.filter((e) => e.stream === s)).toHaveLength(Math.floor((120 - W) / H) + 1);
  });
});

describe('serve generator source', () => {
  it('produces the configured number of streams, each on the window grid, and stops after maxSteps', async () => {
    const streams = 5;
    const maxSteps = 100;
    const d = serve(
      await writeConfig(fx.model.tmp, 'generator', {
        ...base,
        model: { dir: fx.model.dir, watch: false },
        source: { generator: { streams, rate: 1000, maxSteps, anomalyRate: 0, prefix: 'line-', seed: 9 } },
      }),
    );
    expect(await d.exited).toBe(0);
    const events = d.stdout.map((l) => JSON.parse(l) as Event);
    const names = Array.from({ length: streams }, (_, s) => `line-${s}`);
    expect(new Set(events.map((e) => e.stream))).toEqual(new Set(names));
    const ends = Array.from({ length: Math.floor((maxSteps - W) / H) + 1 }, (_, j) => j * H + W - 1);
    for (const s of names) {
      const mine = events.filter((e) => e.stream === s);
      // Every window once, in order, stamped with the generator's timestamps (1000/rate = 1 ms apart).
      expect(mine.map((e) => e.windowEnd)).toEqual(ends);
      for (const e of mine) expect(Number(e.endTs) - Number(e.startTs)).toBe(W - 1);
    }
    expect(d.log('stopped')[0]).toMatchObject({ code: 0, windowsScored: streams * ends.length });
    // Normal data, no injected anomalies: (almost) nothing is flagged.
    expect(events.filter((e) => e.anomaly).length).toBeLessThanOrEqual(1);
    expect(d.log('generator: injected anomaly')).toEqual([]);
  });
});
