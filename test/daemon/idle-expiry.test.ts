/**
 * Window identity across idle expiry, and late records, against the real broker with the
 * real CLI: a stream goes quiet until it expires, then comes back. It must continue at the
 * next grid start after its last step (no window start reused, every window's timestamps
 * those of its steps); a record from before the expiry is dropped as late and copied to
 * the dead-letter topic (deadLetterLate), with reason "late" in its headers. And the
 * migration from the old commit-metadata resume points into the changelog (read once).
 */
import { expect, it } from 'vitest';
import { sharedKafkaBrokers, testKafka } from '../support/kafka/client.js';
import { H, T0, W, daemonFixture, freshTopics, kafkaConfig, produce, readTopic, streamData, writeConfig } from './helpers.js';

const fx = daemonFixture();

interface Scored {
  stream: string;
  windowStart: number;
  windowEnd: number;
  startTs: number;
  endTs: number;
}

it('a stream that expires idle continues on its grid when it comes back; an old record is late and dead-lettered', async () => {
  const brokers = sharedKafkaBrokers();
  const kafka = testKafka(brokers);
  const {
    topic,
    out,
    groupId,
    extra: [dlq],
  } = await freshTopics(kafka, { partitions: 1, extra: ['nf-dlq'] });
  const streams = ['idle-0'];
  const msgs = streamData(streams, 80);
  await produce(kafka, topic, msgs.slice(0, 40), streams, 1);
  const cfg = {
    ...kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId, extra: { deadLetterTopic: dlq, deadLetterLate: true } }),
    streams: { idleTimeoutMs: 1000 },
  };
  const d = fx.start(await writeConfig(fx.model.tmp, groupId, cfg));
  await d.waitFor(() => d.stdout.length >= 2, 'the first two windows');
  await d.waitFor(() => d.log('idle streams expired (window memory freed; grid position kept)').length > 0, 'the stream expired', 60_000);
  // Back: steps 40-79, and one record from before the expiry (step 10).
  await produce(kafka, topic, [...msgs.slice(40), { ...msgs[10] }], streams, 1);
  await d.waitFor(() => d.stdout.length >= 4, 'two windows after the return');
  const dead = await readTopic<{ value: string | null; headers: Record<string, string> }>(kafka, dlq, (rs) => rs.length >= 1, 60_000, true);
  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);

  const got = d.stdout.map((l) => JSON.parse(l) as Scored);
  // Steps 0-39: windows at 0 and 8. Steps 40-79 after the expiry: the next grid start is 40
  // (windows 16, 24, 32 would span the silent gap and are not cut); no start is reused.
  expect(got.map((r) => r.windowStart)).toEqual([0, H, 40, 40 + H]);
  for (const r of got) {
    expect(r.windowEnd).toBe(r.windowStart + W - 1);
    expect(r.startTs).toBe(T0 + r.windowStart * 1000);
    expect(r.endTs).toBe(T0 + r.windowEnd * 1000);
  }
  expect(dead).toHaveLength(1);
  expect(dead[0].headers['noisefloor-error-kind']).toBe('late');
  expect(JSON.parse(dead[0].value!)).toMatchObject({ stream: 'idle-0', ts: T0 + 10_000 });
});

it('migration: a group whose commit metadata holds old-format resume points continues there, once, on the grid', async () => {
  const brokers = sharedKafkaBrokers();
  const kafka = testKafka(brokers);
  const { topic, out, groupId } = await freshTopics(kafka, { partitions: 1 });
  const streams = ['m0', 'm1'];
  await produce(kafka, topic, streamData(streams, 80), streams, 1);
  // What an older daemon committed after scoring windows [0,31] and [8,39] of both streams:
  // offset of step 16 of m0 (steps interleaved: offset = 2 * step + stream), resume points
  // (offset, frame, index) of each stream's next window start, step 16.
  const old = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  await old.connect();
  await old.subscribe({ topics: [topic], fromBeginning: true });
  let joined!: () => void;
  const join = new Promise<void>((r) => (joined = r));
  old.on(old.events.GROUP_JOIN, () => joined());
  await old.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
  await join;
  await old.commitOffsets([{ topic, partition: 0, offset: '32', metadata: JSON.stringify({ v: 1, s: { m0: [32, 0, 16], m1: [33, 0, 16] } }) }]);
  await old.disconnect();

  const d = fx.start(await writeConfig(fx.model.tmp, groupId, kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId })));
  // Steps 16-79 of each stream: windows at 16, 24, 32, 40, 48.
  await d.waitFor(() => d.stdout.length >= 10, 'the windows after the resume points');
  expect(d.log('stream state migrated from old commit metadata')[0]).toMatchObject({ streams: 2 });
  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);
  const got = d.stdout.map((l) => JSON.parse(l) as Scored);
  for (const s of streams) expect(got.filter((r) => r.stream === s).map((r) => r.windowStart)).toEqual([16, 24, 32, 40, 48]);
  for (const r of got) expect(r.startTs).toBe(T0 + r.windowStart * 1000);

  // Migrated once: a restart reads the changelog, not the metadata.
  const again = fx.start(await writeConfig(fx.model.tmp, `${groupId}-2`, kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId })));
  await again.waitFor(() => again.log('stream state restored').length > 0, 'restored');
  expect(again.log('stream state restored')[0]).toMatchObject({ streams: 2 });
  expect(again.log('stream state migrated from old commit metadata')).toEqual([]);
  again.kill('SIGTERM');
  expect(await again.exited).toBe(0);
  expect(again.stdout).toEqual([]);
});
