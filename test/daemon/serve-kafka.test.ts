/**
 * `noisefloor serve` against the real broker (test/support/kafka), as a real CLI process:
 * flags on a 3-partition topic, SIGKILL + restart without loss, two replicas in a group,
 * malformed input and dead letters, SIGTERM drain + commit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { sharedKafkaBrokers, testKafka, uniqueName } from '../support/kafka/client.js';
import { createTopics, daemonFixture, expectedWindows, kafkaConfig, keyOf, produce, readTopic, readTopicToEnd, streamData, writeConfig, waitForCommit, type OutRecord, type ServeProcess } from './helpers.js';

const fx = daemonFixture();
const start = (file: string) => fx.start(file);
let brokers: string[];
let kafka: Kafka;

beforeAll(() => {
  brokers = sharedKafkaBrokers();
  kafka = testKafka(brokers);
});

async function setup(partitions: number, extraTopics: string[] = []) {
  const topic = uniqueName('nf-in');
  const out = uniqueName('nf-out');
  await createTopics(kafka, [{ topic, numPartitions: partitions }, { topic: out, numPartitions: 1 }, ...extraTopics.map((t) => ({ topic: t, numPartitions: 1 }))]);
  return { topic, out, groupId: uniqueName('nf-group') };
}

describe('serve with Kafka', () => {
  it('(a) flags the stream with an injected anomaly and only that one (3 partitions)', async () => {
    const alerts = uniqueName('nf-alerts');
    const { topic, out, groupId } = await setup(3, [alerts]);
    const streams = ['s0', 's1', 's2', 'hot', 's4', 's5'];
    const steps = 240;
    // A loud anomaly (+2.5 level; window max|x| finds it too): this checks the daemon's flagging
    // and alerting plumbing, not detection quality (that is test/e2e/quality.test.ts).
    const msgs = streamData(streams, steps, { hot: [{ kind: 'level', start: 120, end: 170, channel: 0 }] });
    await produce(kafka, topic, msgs, streams, 3);
    const cfg = kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId });
    const file = await writeConfig(fx.model.tmp, groupId, { ...cfg, alerts: { n: 3, m: 5, sinks: { kafka: { topic: alerts } } } });
    const d = start(file);
    const want = expectedWindows(streams, steps);
    const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
    expect(new Set(got.map(keyOf))).toEqual(want);
    const flagged = (s: string) => got.filter((r) => r.stream === s && r.anomaly);
    // Windows over the anomaly (steps 120-170) are flagged; the normal streams are not.
    expect(flagged('hot').length).toBeGreaterThanOrEqual(3);
    for (const r of flagged('hot')) expect(r.windowEnd).toBeGreaterThanOrEqual(120);
    const normalFlags = streams.filter((s) => s !== 'hot').flatMap(flagged);
    expect(normalFlags.length).toBeLessThanOrEqual(1);
    // Scored windows carry the model version and the three top channels.
    expect(got[0]).toMatchObject({ modelVersion: expect.any(String), topChannels: expect.any(Array) });
    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    // Every alert event the daemon wrote (it has exited, so the topic is complete): only 'hot' fired.
    const alertEvents = await readTopicToEnd<{ stream: string; status: string }>(kafka, alerts);
    expect(alertEvents.filter((a) => a.status === 'firing').map((a) => a.stream)).toEqual(['hot']);
  });

  it('(b) SIGKILL mid-stream and restart: every window scored at least once, on the same grid', async () => {
    const { topic, out, groupId } = await setup(3);
    const streams = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
    const steps = 300;
    const msgs = streamData(streams, steps);
    const half = msgs.length / 2;
    await produce(kafka, topic, msgs.slice(0, half), streams, 3);
    const file = await writeConfig(fx.model.tmp, groupId, { ...kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId }), batching: { maxBatch: 4, maxWaitMs: 5, queueCapacity: 64 } });
    const d1 = start(file);
    await d1.waitFor(() => d1.stdout.length >= 40, 'first windows scored');
    await waitForCommit(kafka, groupId, topic);
    d1.kill('SIGKILL');
    await d1.exited;
    const before = d1.stdout.length;
    await produce(kafka, topic, msgs.slice(half), streams, 3);
    const d2 = start(file);
    const want = expectedWindows(streams, steps);
    const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
    // Nothing lost, and nothing off the window grid (the restart resumed each stream in place).
    expect(new Set(got.map(keyOf))).toEqual(want);
    expect(before).toBeLessThan(want.size);
    // The restart read the streams' states back from the changelog.
    expect(d2.log('stream state restored').reduce((a, l) => a + Number(l.streams), 0)).toBeGreaterThan(0);
    d2.kill('SIGTERM');
    expect(await d2.exited).toBe(0);
  });

  it('(d) two daemons in one group split the partitions and together score every window', async () => {
    const { topic, out, groupId } = await setup(4);
    const streams = Array.from({ length: 8 }, (_, i) => `r${i}`);
    const steps = 160;
    const cfg = kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId });
    const a = start(await writeConfig(fx.model.tmp, `${groupId}-a`, { ...cfg, instanceId: 'A' }));
    const b = start(await writeConfig(fx.model.tmp, `${groupId}-b`, { ...cfg, instanceId: 'B' }));
    const parts = (p: ServeProcess) => {
      const last = p.log('partitions assigned').at(-1) as { assignment?: { partitions: number[] }[]; generation?: number } | undefined;
      return last?.assignment?.flatMap((x) => x.partitions) ?? [];
    };
    const split = () => {
      const pa = parts(a);
      const pb = parts(b);
      return pa.length > 0 && pb.length > 0 && new Set([...pa, ...pb]).size === 4 && pa.length + pb.length === 4;
    };
    await Promise.race([a.waitFor(split, 'partitions split'), b.waitFor(split, 'partitions split')]);
    await produce(kafka, topic, streamData(streams, steps), streams, 4);
    const want = expectedWindows(streams, steps);
    const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
    expect(new Set(got.map(keyOf))).toEqual(want);
    const by = new Map<string, Set<string>>();
    for (const r of got) by.set(r.stream, (by.get(r.stream) ?? new Set()).add(r.instance));
    expect(new Set(got.map((r) => r.instance))).toEqual(new Set(['A', 'B']));
    for (const [, inst] of by) expect(inst.size).toBe(1);
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  });

  it('(e) 1% malformed messages: counted by reason, dead-lettered, everything else scored', async () => {
    const dlq = uniqueName('nf-dlq');
    const { topic, out, groupId } = await setup(3, [dlq]);
    const streams = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'];
    const steps = 200;
    const good = streamData(streams, steps);
    const bad = [
      '{not json',
      '',
      '{"stream":"m0","ts":1,"values":[1,2]}',
      '{"stream":"m1","ts":1}',
      '[1,2,3]',
      'x'.repeat(3000),
      '{"stream":"m2","values":["a","b","c"]}',
      '   ',
      '{"stream":"","values":[1,2,3]}',
      '{"stream":"m3","ts":"yesterday","values":[1,2,3]}',
      '{"value":1,"values":[1,2,3],"stream":"m4"}',
      'null',
    ];
    const mixed: Parameters<typeof produce>[2] = [];
    good.forEach((m, i) => {
      mixed.push(m);
      if (i % 100 === 50) mixed.push({ raw: bad[(i - 50) / 100], partition: ((i - 50) / 100) % 3 });
    });
    expect(mixed.length - good.length).toBe(bad.length);
    await produce(kafka, topic, mixed, streams, 3);
    const cfg = kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId, extra: { deadLetterTopic: dlq, decoder: { format: 'json', maxBytes: 2000 } } });
    const d = start(await writeConfig(fx.model.tmp, groupId, cfg));
    const want = expectedWindows(streams, steps);
    const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
    expect(new Set(got.map(keyOf))).toEqual(want);
    const letters = await readTopic<{ value: string | null; headers: Record<string, string> }>(kafka, dlq, (rs) => rs.length >= bad.length, 30_000, true);
    expect(letters).toHaveLength(bad.length);
    const kinds = letters.map((l) => l.headers['noisefloor-error-kind']).sort();
    expect(kinds.filter((k) => k === 'empty')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'oversized')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'malformed')).toHaveLength(9);
    for (const l of letters) expect(l.headers['noisefloor-source-topic']).toBe(topic);
    // The metrics count every rejection by reason.
    const port = (d.log('http server listening')[0] as { port: number }).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const rejected = [...text.matchAll(/^noisefloor_messages_rejected_total\{source="kafka",reason="(\w+)"\} (\d+)/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rejected)).toEqual({ empty: 2, oversized: 1, malformed: 9 });
    // Logged with topic/partition/offset.
    expect(d.log('bad input message')[0]).toMatchObject({ topic, partition: expect.any(Number), offset: expect.any(String) });
    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('(f) SIGTERM drains and commits: a restart rescores at most one batch', async () => {
    const { topic, out, groupId } = await setup(3);
    const streams = ['t0', 't1', 't2', 't3', 't4', 't5'];
    const steps = 300;
    const msgs = streamData(streams, steps);
    const half = msgs.length / 2;
    await produce(kafka, topic, msgs.slice(0, half), streams, 3);
    const maxBatch = 4;
    const file = await writeConfig(fx.model.tmp, groupId, { ...kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId }), batching: { maxBatch, maxWaitMs: 5, queueCapacity: 32 } });
    const d1 = start(file);
    await d1.waitFor(() => d1.stdout.length >= 30, 'first windows scored');
    d1.kill('SIGTERM');
    expect(await d1.exited).toBe(0);
    expect(d1.log('stopped')[0]).toMatchObject({ code: 0 });
    await produce(kafka, topic, msgs.slice(half), streams, 3);
    const d2 = start(file);
    const want = expectedWindows(streams, steps);
    const got = await readTopic<OutRecord>(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
    expect(new Set(got.map(keyOf))).toEqual(want);
    d2.kill('SIGTERM');
    expect(await d2.exited).toBe(0);
    const rescored = got.length - new Set(got.map(keyOf)).size;
    expect(rescored).toBeLessThanOrEqual(maxBatch);
  });
});
