/**
 * Consumer-group membership changes and a lost cluster, against real brokers with the real
 * CLI: (g) a second replica joins mid-stream and partitions move over without losing a
 * window or cutting one off the grid; (h) the (own) broker goes away for good: once
 * kafkajs gives up, the daemon exits non-zero so a supervisor restarts it.
 */
import { rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaBroker, type KafkaBrokerHandle } from '../support/kafka/broker.js';
import { ownBrokerTestTimeout, sharedKafkaBrokers, testKafka, uniqueName, waitForGroupCoordinator } from '../support/kafka/client.js';
import { ServeProcess, createTopics, expectedWindows, kafkaConfig, keyOf, produce, readTopic, streamData, trainTinyModel, writeConfig, killRunning } from './helpers.js';

let model: { dir: string; tmp: string };
let ownBroker: KafkaBrokerHandle | undefined;
const running: ServeProcess[] = [];

beforeAll(async () => {
  model = await trainTinyModel();
});

afterEach(() => killRunning(running));

afterAll(async () => {
  await ownBroker?.stop();
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

function start(file: string): ServeProcess {
  const p = new ServeProcess(file);
  running.push(p);
  return p;
}

type Assigned = { generation?: number; assignment?: { topic: string; partitions: number[] }[] };

/** Partitions of the daemon's latest assignment. */
function partitions(p: ServeProcess): number[] {
  const last = p.log('partitions assigned').at(-1) as Assigned | undefined;
  return last?.assignment?.flatMap((a) => a.partitions) ?? [];
}

/** Resolves with the exit code, or rejects with the log tail if the daemon is still running after `ms`. */
function exitWithin(p: ServeProcess, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms; last log lines:\n${p.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`)), ms);
  });
  return Promise.race([p.exited, deadline]).finally(() => clearTimeout(timer));
}

describe('serve: group membership and a lost cluster', () => {
  it('(g) a second daemon joins mid-stream: partitions move, every window scored on the grid', async () => {
    const brokers = sharedKafkaBrokers();
    const kafka = testKafka(brokers);
    const topic = uniqueName('nf-in');
    const out = uniqueName('nf-out');
    const groupId = uniqueName('nf-group');
    await createTopics(kafka, [
      { topic, numPartitions: 4 },
      { topic: out, numPartitions: 1 },
    ]);
    const streams = Array.from({ length: 8 }, (_, i) => `g${i}`);
    const steps = 300;
    const msgs = streamData(streams, steps);
    const half = msgs.length / 2;
    await produce(kafka, topic, msgs.slice(0, half), streams, 4);

    const cfg = { ...kafkaConfig({ brokers, modelDir: model.dir, topic, out, groupId }), batching: { maxBatch: 4, maxWaitMs: 5, queueCapacity: 32 } };
    const a = start(await writeConfig(model.tmp, `${groupId}-a`, { ...cfg, instanceId: 'A' }));
    await a.waitFor(() => partitions(a).length === 4, 'A owns all 4 partitions');
    await a.waitFor(() => a.stdout.length >= 40, 'A scored its first windows');
    const want = expectedWindows(streams, steps);
    expect(a.stdout.length).toBeLessThan(want.size); // A is mid-stream: half the input is not even produced

    // B joins: the group rebalances and some of A's partitions move to B.
    const b = start(await writeConfig(model.tmp, `${groupId}-b`, { ...cfg, instanceId: 'B' }));
    const split = () => {
      const pa = partitions(a);
      const pb = partitions(b);
      return pa.length > 0 && pb.length > 0 && pa.length + pb.length === 4 && new Set([...pa, ...pb]).size === 4;
    };
    await Promise.all([a.waitFor(split, 'partitions split between A and B'), b.waitFor(split, 'partitions split between A and B')]);
    await produce(kafka, topic, msgs.slice(half), streams, 4);

    const got = await readTopic(kafka, out, (rs) => {
      const keys = new Set(rs.map(keyOf));
      for (const k of want) if (!keys.has(k)) return false;
      return true;
    });
    const keys = new Set(got.map(keyOf));
    // Every expected window is there (at least once) ...
    expect([...want].filter((k) => !keys.has(k))).toEqual([]);
    // ... and none is off the grid (a moved stream resumed in place, not re-warmed at a shifted step).
    expect([...keys].filter((k) => !want.has(k))).toEqual([]);
    // Both daemons scored, both logged their assignments (A twice: alone, then after B joined).
    expect(new Set(got.map((r) => r.instance))).toEqual(new Set(['A', 'B']));
    expect(a.log('partitions assigned').length).toBeGreaterThanOrEqual(2);
    expect(b.log('partitions assigned').length).toBeGreaterThanOrEqual(1);
    expect(partitions(a).length).toBeLessThan(4);

    a.kill('SIGTERM');
    b.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  }, 360_000); // the sum of its waits (3 x 60 s daemon waits, 90 s read) under load

  it('(h) the broker is gone for good: the daemon gives up and exits non-zero', async () => {
    ownBroker = await startKafkaBroker({ stopGraceMs: 5000 });
    const brokers = ownBroker.brokers;
    await waitForGroupCoordinator(brokers);
    const kafka = testKafka(brokers);
    const topic = uniqueName('nf-in');
    const out = uniqueName('nf-out');
    const groupId = uniqueName('nf-group');
    await createTopics(kafka, [
      { topic, numPartitions: 2 },
      { topic: out, numPartitions: 1 },
    ]);
    const streams = ['x0', 'x1'];
    const steps = 80;
    await produce(kafka, topic, streamData(streams, steps), streams, 2);
    const cfg = kafkaConfig({
      brokers,
      modelDir: model.dir,
      topic,
      out,
      groupId,
      extra: { retries: 2, initialRetryTimeMs: 100, connectionTimeoutMs: 1000, requestTimeoutMs: 3000, giveUpAfterMs: 5000 },
    });
    const d = start(await writeConfig(model.tmp, groupId, { ...cfg, shutdownTimeoutMs: 10_000 }));
    const want = expectedWindows(streams, steps);
    await d.waitFor(() => d.stdout.length >= want.size, 'every window scored');

    await ownBroker.stop();
    const code = await exitWithin(d, 90_000, 'daemon after the broker went away');
    expect(code).toBe(1); // non-zero, and by itself (not null: not killed by a signal)
    expect(d.log('kafka consumer crashed and will not restart').length).toBe(1);
    expect(d.log('shutting down')[0]).toMatchObject({ reason: 'kafka consumer crashed' });
    expect(d.log('stopped').at(-1)).toMatchObject({ code });
  }, ownBrokerTestTimeout(1, 240_000)); // + topics and produce (60 s), every window (60 s), the exit (90 s)
});
