/**
 * serve's per-stream window memory (config `memory`) against the real broker, with the real
 * CLI: a stream that is quiet (noise 0.02) through its warm-up turns as noisy as the
 * model's own training data (noise 0.1) for a stretch. The network finds that stretch
 * normal (it was trained and calibrated on it); the stream's memory of its own past does
 * not. With the memory on, serve flags the stretch, and the events show that it was the
 * memory's part; the metrics show the memory's streams and bytes.
 */
import { expect, it } from 'vitest';
import { daemonConfigSchema } from '../../src/config/daemon.js';
import { generateSeries } from '../../src/ingest/synthetic.js';
import { sharedKafkaBrokers, testKafka } from '../support/kafka/client.js';
import { H, T0, W, daemonFixture, freshTopics, kafkaConfig, produce, withDaemonLogs, writeConfig, type Msg } from './helpers.js';

const fixture = daemonFixture();

interface Event {
  stream: string;
  windowStart: number;
  windowEnd: number;
  score: number;
  threshold: number;
  anomaly: boolean;
  parts?: { network: number; memory: number | null };
}

const WARMUP = 128;
const STEPS = 1960;
/** The noisy stretch (steps, inclusive): after the warm-up and 50 normal windows. */
const NOISY = { from: 1440, to: 1759 };

function quietThenNoisy(stream: string): Msg[] {
  // Same seed and phase: the same sines; only the noise level differs.
  const quiet = generateSeries(STEPS, { seed: 600, noise: 0.02 });
  const noisy = generateSeries(STEPS, { seed: 601, noise: 0.1 });
  return quiet.map((row, t) => ({
    stream,
    step: t,
    ts: T0 + t * 1000,
    values: Array.from(t >= NOISY.from && t <= NOISY.to ? noisy[t] : row, (x) => Number(x.toFixed(5))),
  }));
}

it('flags a change only the stream memory sees; the network part stays below its threshold there', async () => {
  const brokers = sharedKafkaBrokers();
  const kafka = testKafka(brokers);
  const { topic, out, groupId } = await freshTopics(kafka, { partitions: 1 });
  await produce(kafka, topic, quietThenNoisy('m-0'), ['m-0'], 1);
  const { model } = fixture;
  const cfg = { ...kafkaConfig({ brokers, modelDir: model.dir, topic, out, groupId }), memory: { enabled: true, warmupWindows: WARMUP } };
  const d = fixture.start(await writeConfig(model.tmp, groupId, cfg));
  const windows = Math.floor((STEPS - W) / H) + 1;
  await withDaemonLogs(
    d.waitFor(() => d.stdout.length >= windows, `all ${windows} windows scored`, 120_000),
    d,
  );
  const port = (d.log('http server listening')[0] as { port: number }).port;
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);

  const events = d.stdout.map((l) => JSON.parse(l) as Event);
  expect(events).toHaveLength(windows);
  const limit = -Math.log10(1 - events[0].threshold);
  // Warm-up: the memory part is absent, the event is the network's.
  const warm = events.slice(0, WARMUP);
  expect(warm.every((e) => e.parts?.memory === null)).toBe(true);
  const after = events.slice(WARMUP);
  expect(after.every((e) => typeof e.parts?.memory === 'number')).toBe(true);

  const inside = after.filter((e) => e.windowStart >= NOISY.from && e.windowEnd <= NOISY.to);
  const clear = after.filter((e) => e.windowEnd < NOISY.from || e.windowStart > NOISY.to + W);
  expect(inside.length).toBeGreaterThanOrEqual(30);
  expect(clear.length).toBeGreaterThanOrEqual(60);
  const flaggedInside = inside.filter((e) => e.anomaly);
  const onlyMemory = flaggedInside.filter((e) => e.parts!.network < limit);
  const falseAlarms = clear.filter((e) => e.anomaly);
  console.log(
    `stream memory: ${flaggedInside.length}/${inside.length} noisy windows flagged (${onlyMemory.length} by the memory alone), ${falseAlarms.length}/${clear.length} quiet windows flagged`,
  );
  // The noisy stretch is flagged, and mostly where the network alone would not have.
  expect(flaggedInside.length).toBeGreaterThanOrEqual(0.8 * inside.length);
  expect(onlyMemory.length).toBeGreaterThanOrEqual(0.5 * inside.length);
  // The quiet windows after the warm-up stay quiet (target 0.1 % per part).
  expect(falseAlarms.length).toBeLessThanOrEqual(2);
  // A flag is exactly the fused score at or above the model's threshold.
  // (score is printed to 6 decimals: a score within 1e-6 of the threshold may round across it)
  for (const e of after) if (Math.abs(e.score - e.threshold) > 1e-6) expect(e.anomaly).toBe(e.score >= e.threshold);

  const sample = (re: RegExp) => Number(metrics.match(re)?.[1]);
  expect(sample(/^noisefloor_stream_memory_streams\{state="ready"\} (\d+)/m)).toBe(1);
  expect(sample(/^noisefloor_stream_memory_streams\{state="warming"\} (\d+)/m)).toBe(0);
  // At least the 128 warm-up windows of 32 x 3 float32 values.
  expect(sample(/^noisefloor_stream_memory_bytes (\d+)/m)).toBeGreaterThan(WARMUP * W * 3 * 4);
  expect(sample(/^noisefloor_stream_memory_dropped_total (\d+)/m)).toBe(0);
});

it('the memory section is validated with defaults: off, fifo, warm-up of at least 100 windows', () => {
  expect(daemonConfigSchema.parse({}).memory).toEqual({
    enabled: false,
    capacity: 1000,
    sigmas: [0.5, 1, 2],
    replacement: 'fifo',
    insertEvery: 1,
    insertBelowSurprise: 3,
    warmupWindows: 256,
    maxStreams: 10000,
    maxBytes: 256 * 1024 * 1024,
  });
  const bad = daemonConfigSchema.safeParse({ memory: { enabled: true, warmupWindows: 50, replacement: 'lru' } });
  expect(bad.success).toBe(false);
  expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['memory.replacement', 'memory.warmupWindows']);
});
