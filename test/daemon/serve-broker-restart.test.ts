/** (c) The broker (owned by this test) is restarted mid-stream: the daemon reconnects and finishes. */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startKafkaBroker, type KafkaBrokerHandle } from '../support/kafka/broker.js';
import { ownBrokerTestTimeout, testKafka, uniqueName, waitForGroupCoordinator } from '../support/kafka/client.js';
import { ServeProcess, createTopics, expectedWindows, kafkaConfig, keyOf, produce, readTopic, streamData, trainTinyModel, writeConfig } from './helpers.js';

let broker: KafkaBrokerHandle;
let model: { dir: string; tmp: string };
let daemon: ServeProcess | undefined;

beforeAll(async () => {
  [broker, model] = await Promise.all([startKafkaBroker({ stopGraceMs: 10_000 }), trainTinyModel()]);
  await waitForGroupCoordinator(broker.brokers);
}, ownBrokerTestTimeout(1, 120_000));

afterAll(async () => {
  if (daemon && daemon.proc.exitCode === null) {
    daemon.kill('SIGKILL');
    await daemon.exited;
  }
  await broker?.stop();
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

it('(c) survives a broker restart mid-stream and scores every window', async () => {
  const kafka = testKafka(broker.brokers);
  const topic = uniqueName('nf-in');
  const out = uniqueName('nf-out');
  const groupId = uniqueName('nf-group');
  await createTopics(kafka, [
    { topic, numPartitions: 3 },
    { topic: out, numPartitions: 1 },
  ]);
  const streams = ['b0', 'b1', 'b2', 'b3'];
  const steps = 240;
  const msgs = streamData(streams, steps);
  const half = msgs.length / 2;
  await produce(kafka, topic, msgs.slice(0, half), streams, 3);
  const file = await writeConfig(model.tmp, groupId, kafkaConfig({ brokers: broker.brokers, modelDir: model.dir, topic, out, groupId, extra: { retries: 20 } }));
  daemon = new ServeProcess(file);
  const d = daemon;
  await d.waitFor(() => d.stdout.length >= 20, 'first windows scored');
  await broker.restart();
  await produce(testKafka(broker.brokers), topic, msgs.slice(half), streams, 3);
  const want = expectedWindows(streams, steps);
  const got = await readTopic(testKafka(broker.brokers), out, (rs) => new Set(rs.map(keyOf)).size >= want.size, 110_000);
  expect(new Set(got.map(keyOf))).toEqual(want);
  expect(d.proc.exitCode).toBeNull(); // still serving
  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);
}, ownBrokerTestTimeout(1, 280_000)); // the restart, then: first windows (60 s), produce (60 s), the read (110 s), the exit
