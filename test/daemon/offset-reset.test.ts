/**
 * Messages deleted under a group's committed offset (retention, deleteRecords, a truncated
 * log): the restarted daemon's committed offset lies below the log start, kafkajs answers
 * OFFSET_OUT_OF_RANGE and moves the partition to its reset offset. The daemon names topic,
 * partition and the offset it was at in a warning, re-seeks the partition's stream states to
 * where reading goes on, and scores what is there, on each stream's grid (real broker, real
 * CLI). Found as the audio-stream SIGKILL flake, where the shared test broker's time
 * retention deleted records stamped 2024 under a running test.
 */
import { expect, it } from 'vitest';
import { retryKafka, sharedKafkaBrokers, testKafka } from '../support/kafka/client.js';
import { H, T0, W, daemonFixture, freshTopics, kafkaConfig, produce, streamData, writeConfig, type OutRecord, type ServeProcess } from './helpers.js';

const fx = daemonFixture();
const start = (file: string) => fx.start(file);

const records = (p: ServeProcess) => p.stdout.map((l) => JSON.parse(l) as OutRecord);

it('records deleted below the committed offset: a warning names topic/partition/offset, states are re-seeked, scoring goes on along each grid', async () => {
  const brokers = sharedKafkaBrokers();
  const kafka = testKafka(brokers);
  const { topic, out, groupId } = await freshTopics(kafka, { partitions: 2 });
  const streams = ['r0', 'r1', 'r2', 'r3'];
  const steps = 400;
  const gap = 160;
  const data = streamData(streams, steps);
  await produce(kafka, topic, data.filter((m) => m.step < gap), streams, 2);
  const file = await writeConfig(fx.model.tmp, groupId, kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId }));

  // A scores the first part and stops cleanly: offsets committed, states in the changelog.
  const a = start(file);
  const perStream = (gap - W) / H + 1;
  await a.waitFor(() => a.stdout.length >= streams.length * perStream, 'A scored the first part');
  a.kill('SIGTERM');
  expect(await a.exited).toBe(0);

  // Everything A read is deleted; more data comes after the gap.
  const admin = kafka.admin();
  await retryKafka('admin connect', () => admin.connect());
  let committed: Map<number, number>;
  let low: Map<number, number>;
  try {
    const [c] = await retryKafka('committed offsets', () => admin.fetchOffsets({ groupId, topics: [topic] }));
    committed = new Map(c.partitions.map((p) => [p.partition, Number(p.offset)]));
    await retryKafka('delete records', () => admin.deleteTopicRecords({ topic, partitions: [0, 1].map((partition) => ({ partition, offset: '-1' })) }));
    const offsets = await retryKafka('offsets', () => admin.fetchTopicOffsets(topic));
    low = new Map(offsets.map((o) => [o.partition, Number(o.low)]));
  } finally {
    await admin.disconnect();
  }
  // The clean stop committed everything A finished: on each partition (two streams,
  // interleaved) the messages of the next window's first step (both streams' step 136).
  // Before the fix, the stop's commit could be one the commit timer had started earlier
  // (offsets 0, or none).
  for (const p of [0, 1]) expect(committed.get(p), `committed offset of partition ${p}`).toBe(2 * perStream * H);
  for (const p of [0, 1]) expect(committed.get(p)!).toBeLessThan(low.get(p)!);
  await produce(kafka, topic, data.filter((m) => m.step >= gap), streams, 2);

  // B: its committed offsets are out of range.
  const b = start(file);
  const lastEnd = T0 + (steps - 1) * 1000;
  await b.waitFor(() => streams.every((s) => records(b).some((r) => r.stream === s && r.endTs > lastEnd - H * 1000)), 'B scored up to the end of every stream', 120_000);
  for (const p of [0, 1]) {
    const warned = b.log('input offset out of range: kafkajs moves the partition to its reset offset; messages in between are not read').filter((l) => l.partition === p);
    expect(warned[0], `warning for partition ${p}`).toMatchObject({ level: 'warn', topic, partition: p, offset: committed.get(p), resetTo: 'earliest' });
    // The partition's range, when the daemon could read it for the warning.
    if (warned[0].low !== undefined) expect(warned[0].low).toBe(low.get(p));
    const reseeked = b.log('stream states re-seeked after an offset reset').filter((l) => l.partition === p);
    expect(reseeked[0], `re-seek of partition ${p}`).toMatchObject({ topic, partition: p, offset: low.get(p), streams: 2 });
  }
  for (const s of streams) {
    const before = records(a).filter((r) => r.stream === s);
    const after = records(b).filter((r) => r.stream === s);
    // No window spans the gap, no window index is used twice, and the grid goes on with the hop.
    expect(Math.min(...after.map((r) => r.endTs))).toBeGreaterThanOrEqual(T0 + (gap + W - 1) * 1000);
    expect(Math.min(...after.map((r) => r.windowEnd))).toBeGreaterThan(Math.max(...before.map((r) => r.windowEnd)));
    const ends = after.map((r) => r.windowEnd).sort((x, y) => x - y);
    ends.slice(1).forEach((e, i) => expect(e - ends[i]).toBe(H));
    // Every window of the data that is still there (up to one hop lost to the grid) is scored.
    expect(after.length).toBeGreaterThanOrEqual(Math.floor((steps - gap - W) / H));
  }
  b.kill('SIGTERM');
  expect(await b.exited).toBe(0);
}, 300_000);
