/**
 * Stream state at scale, against a real broker (owned by this test) and the real CLI:
 * 10,000 streams over 4 partitions, the daemon SIGKILLed mid-stream, the broker restarted
 * under the next daemon, then a clean stop and a restart. Every window (stream, start) must
 * come out, on the grid, with the data it names (its start/end timestamps are those of its
 * steps), and the restart after the clean stop must emit nothing. Prints the duplicates the
 * kill caused and the restore times (figures for docs/BENCHMARKS.md; not timed assertions).
 *
 * Data volume is kept small for a loaded 2-core machine: 40 steps per stream (two windows
 * of 32 with hop 8 each: 20,000 windows), one 3-value JSON message per step.
 */
import { rm } from 'node:fs/promises';
import kafkajs, { type Kafka } from 'kafkajs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startKafkaBroker, type KafkaBrokerHandle } from '../support/kafka/broker.js';
import { testKafka, uniqueName } from '../support/kafka/client.js';
import { H, ServeProcess, T0, W, createTopics, kafkaConfig, killRunning, readTopic, trainTinyModel, writeConfig, type OutRecord } from './helpers.js';

const { Partitioners } = kafkajs;
const STREAMS = 10_000;
const PARTITIONS = 4;
const STEPS = 40;
const FIRST = 32; // steps produced before the kill
const COMMIT_MS = 500;

type Rec = OutRecord & { windowStart: number; startTs: number; scoredAt: number };

let broker: KafkaBrokerHandle;
let model: { dir: string; tmp: string };
const running: ServeProcess[] = [];

beforeAll(async () => {
  [broker, model] = await Promise.all([startKafkaBroker({ stopGraceMs: 10_000 }), trainTinyModel()]);
}, 300_000);

afterEach(() => killRunning(running));

afterAll(async () => {
  await broker?.stop();
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

function start(file: string): ServeProcess {
  const p = new ServeProcess(file);
  running.push(p);
  return p;
}

const name = (s: number) => `s${String(s).padStart(5, '0')}`;

/** Retries retriable kafkajs errors (a leader not elected yet right after createTopics or a broker restart). */
async function retried<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e as { retriable?: boolean }).retriable || Date.now() > deadline) throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** Steps [from, to) of every stream, time order, streams interleaved; stream s on partition s mod 4. Checks the end offsets grew by what was sent. */
async function produceSteps(kafka: Kafka, topic: string, from: number, to: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  try {
    const high = async () => new Map((await retried('end offsets', () => admin.fetchTopicOffsets(topic))).map((o) => [o.partition, Number(o.high)]));
    const before = await high();
    await producer.connect();
    let batch: { partition: number; key: string; value: string }[] = [];
    const flush = async () => {
      if (batch.length) await producer.send({ topic, acks: -1, messages: batch });
      batch = [];
    };
    for (let t = from; t < to; t++) {
      for (let s = 0; s < STREAMS; s++) {
        const values = [Math.sin(0.3 * t + s), Math.cos(0.2 * t + s), ((t * 7 + s) % 11) / 11].map((x) => Number(x.toFixed(4)));
        batch.push({ partition: s % PARTITIONS, key: name(s), value: JSON.stringify({ stream: name(s), ts: T0 + t * 1000, values }) });
        if (batch.length >= 5000) await flush();
      }
    }
    await flush();
    const after = await high();
    for (let p = 0; p < PARTITIONS; p++) expect(after.get(p)! - before.get(p)!, `partition ${p} appended`).toBe(((to - from) * STREAMS) / PARTITIONS);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}

async function endOffsets(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await retried('end offsets', () => admin.fetchTopicOffsets(topic))).reduce((a, o) => a + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the daemon's consumer lag is 0 on every partition (/metrics). */
async function caughtUp(p: ServeProcess, what: string, timeoutMs = 120_000): Promise<void> {
  const port = (p.log('serving')[0]?.http as number | undefined) ?? 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = port ? await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '') : '';
    const lags = text.split('\n').filter((l) => l.startsWith('noisefloor_consumer_lag_messages{'));
    if (lags.length === PARTITIONS && lags.every((l) => Number(l.split(' ').at(-1)) === 0)) return;
    if (Date.now() > deadline) throw new Error(`${what}: consumer lag ${JSON.stringify(lags)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function restoreFigures(p: ServeProcess): { streams: number; maxSeconds: number } {
  const logs = p.log('stream state restored');
  return { streams: logs.reduce((a, l) => a + Number(l.streams), 0), maxSeconds: Math.max(0, ...logs.map((l) => Number(l.seconds))) };
}

it('10,000 streams, SIGKILL mid-stream and a broker restart: no window lost, each on its data; a restart after a clean stop emits nothing', async () => {
  const kafka = testKafka(broker.brokers, { retry: { initialRetryTime: 200, retries: 20 } });
  const topic = uniqueName('nf-scale-in');
  const out = uniqueName('nf-scale-out');
  const groupId = uniqueName('nf-scale');
  await createTopics(kafka, [
    { topic, numPartitions: PARTITIONS },
    { topic: out, numPartitions: PARTITIONS },
  ]);
  await produceSteps(kafka, topic, 0, FIRST);
  const cfg = {
    ...kafkaConfig({ brokers: broker.brokers, modelDir: model.dir, topic, out, groupId, extra: { retries: 20, commitIntervalMs: COMMIT_MS } }),
    streams: { maxStreams: 20_000, idleTimeoutMs: 0 },
    batching: { maxBatch: 64, maxWaitMs: 20, queueCapacity: 1024 },
    shutdownTimeoutMs: 60_000,
  };
  const file = await writeConfig(model.tmp, groupId, cfg);

  // A: scores part of the first window of every stream, then dies.
  const a = start(file);
  await a.waitFor(() => a.stdout.length >= STREAMS / 3, 'A scored a third of the first windows', 240_000);
  const killedAt = Date.now();
  a.kill('SIGKILL');
  await a.exited;
  const aRecords = a.stdout.map((l) => JSON.parse(l) as Rec);
  expect(aRecords.length).toBeLessThan(STREAMS); // mid-stream

  // B: restores, and the broker restarts under it; then the rest of the data comes.
  const b = start(file);
  await b.waitFor(() => b.log('stream state restored').length >= PARTITIONS, 'B restored its 4 partitions', 120_000);
  await b.waitFor(() => b.stdout.length >= 500, 'B scoring', 240_000);
  await broker.restart();
  await produceSteps(testKafka(broker.brokers, { retry: { initialRetryTime: 200, retries: 20 } }), topic, FIRST, STEPS);

  const want = new Set<string>();
  for (let s = 0; s < STREAMS; s++) for (let start = 0; start + W <= STEPS; start += H) want.add(`${name(s)}@${start}`);
  const reader = testKafka(broker.brokers);
  const got = await readTopic<Rec>(
    reader,
    out,
    (rs) => new Set(rs.map((r) => `${r.stream}@${r.windowStart}`)).size >= want.size,
    400_000,
  );
  const keys = new Set(got.map((r) => `${r.stream}@${r.windowStart}`));
  const lost = [...want].filter((k) => !keys.has(k));
  const offGrid = [...keys].filter((k) => !want.has(k));
  const mismatched = got.filter((r) => r.windowEnd !== r.windowStart + W - 1 || r.startTs !== T0 + r.windowStart * 1000 || r.endTs !== T0 + r.windowEnd * 1000);
  expect(lost.slice(0, 10), `${lost.length} windows lost`).toEqual([]);
  expect(offGrid.slice(0, 10), `${offGrid.length} windows off the grid`).toEqual([]);
  expect(mismatched.slice(0, 5), `${mismatched.length} windows whose (start, end) disagree with their data`).toEqual([]);

  // Duplicates: windows A had emitted that came out again after the kill.
  const aKeys = new Set(aRecords.map((r) => `${r.stream}@${r.windowStart}`));
  const afterKill = got.filter((r) => r.scoredAt > killedAt);
  const rescoredFromKill = new Set(afterKill.map((r) => `${r.stream}@${r.windowStart}`).filter((k) => aKeys.has(k))).size;
  const aLastSecond = aRecords.filter((r) => r.scoredAt > killedAt - 1000).length;
  const aLastInterval = aRecords.filter((r) => r.scoredAt > killedAt - COMMIT_MS).length;
  console.log(
    JSON.stringify({
      figure: 'state-scale',
      windows: want.size,
      emitted: got.length,
      duplicates: got.length - keys.size,
      aEmitted: aRecords.length,
      rescoredAfterKill: rescoredFromKill,
      aWindowsInLastCommitInterval: aLastInterval,
      aWindowsInLastSecond: aLastSecond,
      restoreB: restoreFigures(b),
      commitFailuresLogged: b.logs.filter((l) => typeof l.msg === 'string' && (l.msg as string).includes('failed; ')).length,
    }),
  );
  // Not everything A did is done again: the restart resumed from committed state.
  expect(rescoredFromKill).toBeLessThan(aRecords.length);

  // Clean stop, then a restart that must emit nothing new.
  b.kill('SIGTERM');
  expect(await b.exited).toBe(0);
  const outBefore = await endOffsets(reader, out);
  const c = start(file);
  await c.waitFor(() => c.log('stream state restored').length >= PARTITIONS, 'C restored its 4 partitions', 120_000);
  const restoreC = restoreFigures(c);
  expect(restoreC.streams).toBe(STREAMS);
  console.log(JSON.stringify({ figure: 'state-restore-on-assignment', streams: restoreC.streams, partitions: PARTITIONS, maxPartitionSeconds: restoreC.maxSeconds }));
  // C re-reads the steps the next windows need (from the committed offsets) to the end: nothing is due.
  await c.waitFor(() => c.log('serving').length > 0, 'C serving');
  await caughtUp(c, 'C read to the end');
  c.kill('SIGTERM');
  expect(await c.exited).toBe(0);
  expect(c.stdout).toEqual([]);
  expect(await endOffsets(reader, out)).toBe(outBefore);
}, 900_000);
