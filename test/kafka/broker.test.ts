/**
 * kafkajs 2.2.4 against the real Kafka 4.x broker from test/support/kafka: topics, keyed
 * produce, consumer groups with eachBatch and manual commits, committed offsets, resume
 * after a consumer restart, and broker restart/kill recovery.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it, afterEach } from 'vitest';
import kafkajs, { type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import { startKafkaBroker, KafkaBrokerError, type KafkaBrokerHandle } from '../support/kafka/broker.js';
import { ownBrokerTestTimeout, retryKafka, sharedKafkaBrokers, testKafka, uniqueName, waitForPartitionLeaders } from '../support/kafka/client.js';

const { Partitioners } = kafkajs;

interface Got {
  partition: number;
  offset: string;
  key: string;
  value: string;
}

/** Everything that must be disconnected after a test, newest first. */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function connectAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  await retryKafka('admin connect', () => admin.connect());
  cleanups.push(() => admin.disconnect());
  return admin;
}

async function connectProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  cleanups.push(() => producer.disconnect());
  return producer;
}

function newConsumer(kafka: Kafka, groupId: string): Consumer {
  // maxWaitTimeInMs: disconnect() waits for the fetch in flight, 5 s by default.
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 250,
  });
  cleanups.push(() => consumer.disconnect());
  return consumer;
}

/**
 * Consume with eachBatch and manual commits until `count` distinct records (partition and
 * offset) arrived; commits each batch after handling it. Resolves with the records in
 * arrival order, without repeats: Kafka delivers at least once, and kafkajs 2.2.4 has been
 * seen here to hand a batch over twice (once in about ten runs, with a 250 ms fetch wait),
 * so a repeat of the same offset is tolerated, checked to carry the same record, and
 * dropped. A record that should not be delivered at all still fails the callers' checks.
 */
async function consumeCommitting(consumer: Consumer, topic: string, count: number): Promise<Got[]> {
  const got: Got[] = [];
  const seen = new Map<string, Got>();
  let done!: () => void;
  let failed!: (e: unknown) => void;
  const finished = new Promise<void>((res, rej) => {
    done = res;
    failed = rej;
  });
  // kafkajs reports retriable failures as a CRASH with restart: true and rejoins by itself
  // (right after a broker restart the join meets COORDINATOR_LOAD_IN_PROGRESS); only a
  // crash it does not recover from fails the test.
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) failed(e.payload.error);
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const m of batch.messages) {
        const rec = { partition: batch.partition, offset: m.offset, key: m.key?.toString() ?? '', value: m.value?.toString() ?? '' };
        const id = `${rec.partition}@${rec.offset}`;
        const before = seen.get(id);
        if (before) {
          if (before.key !== rec.key || before.value !== rec.value) failed(new Error(`${id} changed on redelivery`));
        } else {
          seen.set(id, rec);
          got.push(rec);
        }
        resolveOffset(m.offset);
      }
      if (batch.messages.length > 0) {
        const next = (BigInt(batch.lastOffset()) + 1n).toString();
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
      }
      await heartbeat();
      if (got.length >= count) done();
    },
  });
  await finished;
  return got;
}

function messages(prefix: string, keys: number, perKey: number): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (let i = 0; i < perKey; i++) for (let k = 0; k < keys; k++) out.push({ key: `key-${k}`, value: `${prefix}-${k}-${i}` });
  return out;
}

/** Committed offset per partition of `topic` for `groupId`, as numbers. */
async function committed(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const res = await retryKafka(`committed offsets of ${groupId}`, () => admin.fetchOffsets({ groupId, topics: [topic] }));
  expect(res).toHaveLength(1);
  return new Map(res[0].partitions.map((p) => [p.partition, Number(p.offset)]));
}

async function highWatermarks(admin: Admin, topic: string): Promise<Map<number, number>> {
  const res = await retryKafka(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
  return new Map(res.map((p) => [p.partition, Number(p.high)]));
}

describe('kafkajs against the test broker', () => {
  it('runs a consumer group with eachBatch and manual commits, and a new member resumes from the commit', async () => {
    const kafka = testKafka(sharedKafkaBrokers());
    const topic = uniqueName('nf-broker-test');
    const groupId = uniqueName('nf-group');
    const admin = await connectAdmin(kafka);

    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).toBe(true);
    await waitForPartitionLeaders(admin, [{ topic, numPartitions: 3 }]);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);

    const producer = await connectProducer(kafka);
    const first = messages('a', 12, 3);
    await producer.send({ topic, messages: first });

    const consumer1 = newConsumer(kafka, groupId);
    const joins: Array<{ memberId: string; isLeader: boolean; assigned: Record<string, number[]> }> = [];
    consumer1.on(consumer1.events.GROUP_JOIN, (e) =>
      joins.push({ memberId: e.payload.memberId, isLeader: e.payload.isLeader, assigned: e.payload.memberAssignment }),
    );
    const got1 = await consumeCommitting(consumer1, topic, first.length);

    // Group join: the only member leads and owns all three partitions.
    expect(joins.length).toBeGreaterThanOrEqual(1);
    expect(joins.at(-1)!.isLeader).toBe(true);
    expect([...joins.at(-1)!.assigned[topic]].sort()).toEqual([0, 1, 2]);
    const described = await admin.describeGroups([groupId]);
    expect(described.groups[0].state).toBe('Stable');
    expect(described.groups[0].members.map((m) => m.memberId)).toEqual([joins.at(-1)!.memberId]);

    // Every message exactly once; one key, one partition; per-key order kept.
    expect(got1.map((m) => m.value).sort()).toEqual(first.map((m) => m.value).sort());
    const partitionOfKey = new Map<string, number>();
    for (const m of got1) {
      expect(partitionOfKey.get(m.key) ?? m.partition).toBe(m.partition);
      partitionOfKey.set(m.key, m.partition);
    }
    expect(new Set(partitionOfKey.values()).size).toBe(3);
    for (const key of partitionOfKey.keys()) {
      const seq = got1.filter((m) => m.key === key).map((m) => Number(m.value.split('-').at(-1)));
      expect(seq).toEqual([0, 1, 2]);
    }

    // Committed offsets are the end of each partition.
    const high = await highWatermarks(admin, topic);
    expect([...high.values()].reduce((a, b) => a + b, 0)).toBe(first.length);
    expect(await committed(admin, groupId, topic)).toEqual(high);

    await consumer1.disconnect();

    // A new member of the same group, subscribing fromBeginning, starts at the commits:
    // it sees only what was produced after them.
    const second = messages('b', 12, 1);
    await producer.send({ topic, messages: second });
    const consumer2 = newConsumer(kafka, groupId);
    const got2 = await consumeCommitting(consumer2, topic, second.length);
    expect(got2.map((m) => m.value).sort()).toEqual(second.map((m) => m.value).sort());
    for (const m of got2) expect(Number(m.offset)).toBeGreaterThanOrEqual(high.get(m.partition)!);
    expect(await committed(admin, groupId, topic)).toEqual(await highWatermarks(admin, topic));
  });

  describe('own broker', () => {
    let broker: KafkaBrokerHandle | undefined;
    afterEach(async () => {
      await broker?.stop();
      broker = undefined;
    });

    it('keeps data, commits and its address across restart() and kill()+restart(), and stop() ends the JVM', async () => {
      broker = await startKafkaBroker();
      const address = [...broker.brokers];
      expect(address).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
      const firstPid = broker.pid;
      expect(firstPid).toBeTypeOf('number');

      const kafka = testKafka(broker.brokers);
      const topic = uniqueName('nf-restart');
      const groupId = uniqueName('nf-restart-group');
      const admin = await connectAdmin(kafka);
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
      await waitForPartitionLeaders(admin, [{ topic, numPartitions: 3 }]);
      const producer = await connectProducer(kafka);
      const before = messages('before', 6, 2);
      await producer.send({ topic, messages: before });

      await broker.restart();
      expect(broker.brokers).toEqual(address);
      expect(broker.pid).toBeTypeOf('number');
      expect(broker.pid).not.toBe(firstPid);
      expect(() => process.kill(firstPid!, 0)).toThrow();

      // The clients created before the restart reconnect by themselves.
      const after = messages('after', 6, 2);
      await producer.send({ topic, messages: after });
      const got = await consumeCommitting(newConsumer(kafka, groupId), topic, before.length + after.length);
      expect(got.map((m) => m.value).sort()).toEqual([...before, ...after].map((m) => m.value).sort());
      const endBeforeKill = await highWatermarks(admin, topic);
      expect(await committed(admin, groupId, topic)).toEqual(endBeforeKill);
      await cleanups.pop()!(); // the consumer: leave the group before the crash

      // A crash: SIGKILL, then restart recovers the log and the group's commits.
      const killedPid = broker.pid!;
      broker.kill();
      await broker.restart();
      expect(broker.brokers).toEqual(address);
      expect(() => process.kill(killedPid, 0)).toThrow();
      expect(await committed(admin, groupId, topic)).toEqual(endBeforeKill);

      const late = messages('late', 6, 1);
      await producer.send({ topic, messages: late });
      const got2 = await consumeCommitting(newConsumer(kafka, groupId), topic, late.length);
      expect(got2.map((m) => m.value).sort()).toEqual(late.map((m) => m.value).sort());

      while (cleanups.length) await cleanups.pop()!();
      const lastPid = broker.pid!;
      const dir = broker.dir;
      await broker.stop();
      await broker.stop(); // idempotent
      expect(broker.pid).toBeUndefined();
      expect(() => process.kill(lastPid, 0)).toThrow();
      expect(existsSync(dir)).toBe(false);
      await expect(broker.restart()).rejects.toThrow(KafkaBrokerError);
    }, ownBrokerTestTimeout(3, 120_000));

    it('fails loudly, with the broker output, when the broker cannot start', async () => {
      const err = await startKafkaBroker({ config: { 'node.id': 'not-a-number' } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KafkaBrokerError);
      expect((err as Error).message).toMatch(/storage .* failed/);
      expect((err as Error).message).toMatch(/ConfigException: Invalid value not-a-number/);
    });

    it('gives up with the log tail and kills the JVM when the broker is not ready in time', async () => {
      // No JVM serves a metadata request within a millisecond of being spawned.
      const err = await startKafkaBroker({ startTimeoutMs: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KafkaBrokerError);
      expect((err as Error).message).toMatch(/was not ready after 1 ms .*last log lines of .*server\.log/s);
      const pid = Number(/pid (\d+)/.exec((err as Error).message)?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(() => process.kill(pid, 0)).toThrow();
      // Its directory (named in the message) is removed too.
      const logFile = /last log lines of (\S+server\.log)/.exec((err as Error).message)?.[1];
      expect(logFile).toBeTruthy();
      expect(existsSync(dirname(logFile!))).toBe(false);
    });
  });
});
