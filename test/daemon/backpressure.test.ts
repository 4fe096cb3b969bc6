/**
 * Backpressure of `noisefloor serve` against the real broker: a window queue of 4 and slow
 * scoring (many noise samples and denoising steps per window) behind a topic that already
 * holds thousands of messages. The consumer must pause its partitions whenever the queue is
 * full (debug log "window queue full: partitions paused" with the queue size), resume once
 * it drained to half, never let the queue grow past its capacity (noisefloor_queue_depth),
 * and still score every window exactly once.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { sharedKafkaBrokers, testKafka, uniqueName } from '../support/kafka/client.js';
import { ServeProcess, createTopics, expectedWindows, kafkaConfig, produce, streamData, trainTinyModel, writeConfig } from './helpers.js';

let model: { dir: string; tmp: string };
let brokers: string[];
let kafka: Kafka;
let daemon: ServeProcess | undefined;

beforeAll(async () => {
  brokers = sharedKafkaBrokers();
  kafka = testKafka(brokers);
  model = await trainTinyModel();
});

afterAll(async () => {
  if (daemon && daemon.proc.exitCode === null && daemon.proc.signalCode === null) {
    daemon.kill('SIGKILL');
    await daemon.exited;
  }
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

it('pauses the consumer while the window queue is full and still scores every window once', async () => {
  const topic = uniqueName('nf-bp-in');
  const groupId = uniqueName('nf-bp-group');
  await createTopics(kafka, [{ topic, numPartitions: 3 }]);
  const streams = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const steps = 300;
  await produce(kafka, topic, streamData(streams, steps), streams, 3);

  const capacity = 4;
  const cfg = kafkaConfig({ brokers, modelDir: model.dir, topic, out: 'unused', groupId });
  const file = await writeConfig(model.tmp, groupId, {
    ...cfg,
    model: { ...cfg.model, scoring: { samples: 8, steps: 12 } },
    outputs: { stdout: { enabled: true } },
    http: { port: 0, host: '127.0.0.1' },
    alerts: { enabled: false },
    batching: { maxBatch: 2, maxWaitMs: 5, queueCapacity: capacity },
  });
  daemon = new ServeProcess(file, { NOISEFLOOR_LOG_LEVEL: 'debug' });
  const d = daemon;
  await d.waitFor(() => d.log('http server listening').length > 0, 'http server up');
  const port = (d.log('http server listening')[0] as { port: number }).port;

  // Sample the queue gauge while the backlog is consumed.
  const depths: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = /^noisefloor_queue_depth\{queue="windows"\} (\d+)$/m.exec(text);
      if (m) depths.push(Number(m[1]));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();

  const want = expectedWindows(streams, steps);
  const keys = () => d.stdout.map((l) => JSON.parse(l) as { stream: string; endTs: number }).map((r) => `${r.stream}@${r.endTs}`);
  try {
    await d.waitFor(() => d.stdout.length >= want.size, 'every window scored', 110_000);
  } finally {
    sampling = false;
    await sampler;
  }

  // Every window scored, none twice (pausing and resuming neither lost nor re-read a message).
  expect(new Set(keys())).toEqual(want);
  expect(keys()).toHaveLength(want.size);

  // The consumer paused at a full queue and resumed at half of it, many times over.
  const paused = d.log('window queue full: partitions paused') as { queued: number }[];
  const resumed = d.log('window queue drained: partitions resumed') as { queued: number }[];
  expect(paused.length).toBeGreaterThanOrEqual(5);
  expect(resumed).toHaveLength(paused.length);
  for (const p of paused) expect(p.queued).toBe(capacity);
  for (const r of resumed) expect(r.queued).toBeLessThanOrEqual(capacity / 2);
  // The queue never grew past its capacity.
  expect(depths.length).toBeGreaterThan(0);
  expect(Math.max(...depths)).toBeLessThanOrEqual(capacity);
  // ...and every pause is counted where a dashboard can see it.
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(Number(/^noisefloor_source_pauses_total\{source="kafka"\} (\d+)$/m.exec(metrics)?.[1])).toBe(paused.length);
  expect(d.proc.exitCode).toBeNull();

  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);
  expect(d.log('stopped')[0]).toMatchObject({ code: 0, windowsScored: want.size });
}, 180_000);
