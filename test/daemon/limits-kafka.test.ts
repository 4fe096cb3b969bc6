/**
 * Input limits in the running daemon (real broker, CLI process): an oversized message and
 * one with too many channels are rejected with their topic/partition@offset and counted in
 * noisefloor_input_limit_exceeded_total; maxStreamsPerBatch spreads new streams over
 * fetches without losing a message.
 */
import type { Kafka } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedKafkaBrokers, testKafka } from '../support/kafka/client.js';
import { daemonFixture, expectedWindows, freshTopics, kafkaConfig, keyOf, produce, readTopic, streamData, writeConfig } from './helpers.js';

const fx = daemonFixture();
let brokers: string[];
let kafka: Kafka;

beforeAll(() => {
  brokers = sharedKafkaBrokers();
  kafka = testKafka(brokers);
});

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('input limits in serve', () => {
  it('rejects and counts oversized messages and too many channels; maxStreamsPerBatch loses nothing', async () => {
    const { topic, out, groupId } = await freshTopics(kafka, { partitions: 1 });
    const streams = ['s0', 's1', 's2', 's3', 's4'];
    const steps = 48;
    const good = streamData(streams, steps);
    const big = { raw: JSON.stringify({ stream: 's0', values: [1, 2, 3], pad: 'x'.repeat(400) }), partition: 0 };
    const wide = { raw: JSON.stringify({ stream: 's1', values: [1, 2, 3, 4, 5, 6] }), partition: 0 };
    // The bad ones sit at offsets 100 and 101, between good messages.
    await produce(kafka, topic, [...good.slice(0, 100), big, wide, ...good.slice(100)] as Parameters<typeof produce>[2], streams, 1);
    const cfg = kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId, extra: { decoder: { maxBytes: 300, maxChannels: 4 }, maxStreamsPerBatch: 2 } });
    const d = fx.start(await writeConfig(fx.model.tmp, groupId, cfg));

    const want = expectedWindows(streams, steps);
    const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
    expect(new Set(got.map(keyOf))).toEqual(want);

    await d.waitFor(() => d.log('http server listening').length > 0, 'http server');
    const port = (d.log('http server listening')[0] as { port: number }).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metricValue(text, 'noisefloor_input_limit_exceeded_total{source="kafka",limit="message_bytes"}')).toBe(1);
    expect(metricValue(text, 'noisefloor_input_limit_exceeded_total{source="kafka",limit="channels"}')).toBe(1);
    expect(metricValue(text, 'noisefloor_input_limit_exceeded_total{source="kafka",limit="streams_per_batch"}')).toBeGreaterThan(0);
    expect(metricValue(text, 'noisefloor_messages_rejected_total{source="kafka",reason="oversized"}')).toBe(2);
    // Every good message was decoded once: deferring a batch re-fetches, it does not re-ingest.
    expect(metricValue(text, 'noisefloor_messages_decoded_total{source="kafka"}')).toBe(good.length);

    const bad = d.log('bad input message').map((l) => `${String(l.offset)} ${String(l.reason)}`);
    // Both rejections are of kind oversized, and that kind's log line is rate limited: one line.
    expect(bad, JSON.stringify(bad)).toEqual([`100 ${topic}/0@100: message value is 441 bytes, more than the 300 allowed (maxBytes)`]);
    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });
});
