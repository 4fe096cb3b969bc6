/** Shared pieces of the serve integration tests: tiny model, data, the CLI process, topics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs, { type Kafka } from 'kafkajs';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { coreConfigSchema } from '../../src/config/core.js';
import { generateSeries, seriesToCsv, type InjectedAnomaly } from '../../src/ingest/synthetic.js';
import { runTrainJob } from '../../src/jobs/train.js';
import { silentLogger } from '../../src/util/log.js';
import { retryKafka, uniqueName, waitForPartitionLeaders } from '../support/kafka/client.js';

const { Partitioners } = kafkajs;
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');
export const W = 32;
export const H = 8;
export const T0 = Date.UTC(2024, 0, 1);

/** A tiny model (window 32, hop 8, 3 channels) trained on synthetic normal data. */
export async function trainTinyModel(): Promise<{ dir: string; tmp: string }> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'nf-serve-test-'));
  const files: string[] = [];
  for (let s = 0; s < 3; s++) {
    const f = path.join(tmp, `normal-${s}.csv`);
    await writeFile(f, seriesToCsv(generateSeries(700, { seed: 100 + s, phase: s * 7 })));
    files.push(f);
  }
  const config = coreConfigSchema.parse({
    window: { length: W, hop: H },
    model: { dim: 32, depth: 1, patch: 8, timeDim: 16, T: 50 },
    train: { epochs: 4, stepsPerEpoch: 25, batchSize: 32, stride: 2, backend: 'cpu', seed: 3 },
    scoring: { samples: 2, steps: 3 },
    // The product default (0.1 %): at 0.2 % the ort-trained (EMA) fixture flagged two normal
    // windows at calibrated 0.9987 and 0.9983, just over the 0.998 line, in test (a).
    calibration: { targetFalseAlarmRate: 0.001 },
  });
  const dir = path.join(tmp, 'model');
  await runTrainJob({ files, outDir: dir, config, log: silentLogger });
  return { dir, tmp };
}

export interface DaemonFixture {
  /** The tiny model (trained in beforeAll; reading it earlier throws). */
  readonly model: { dir: string; tmp: string };
  /** Starts `serve` with a config file; the daemon is SIGKILLed after the test if still running. */
  start(configFile: string, env?: Record<string, string>): ServeProcess;
}

/**
 * The fixture of a daemon test file, called at its top level: the tiny model trained once
 * (beforeAll), every daemon a test started killed after it (afterEach), the model's folder
 * removed at the end (afterAll).
 */
export function daemonFixture(): DaemonFixture {
  let model: { dir: string; tmp: string } | undefined;
  const running: ServeProcess[] = [];
  beforeAll(async () => {
    model = await trainTinyModel();
  }, 300_000);
  afterEach(() => killRunning(running));
  afterAll(async () => {
    if (model) await rm(model.tmp, { recursive: true, force: true });
  });
  return {
    get model() {
      if (!model) throw new Error('daemonFixture: the model is trained in beforeAll');
      return model;
    },
    start(configFile, env) {
      const p = new ServeProcess(configFile, env);
      running.push(p);
      return p;
    },
  };
}

/**
 * Fresh topics for one test, created with their partition leaders waited for: the input
 * topic (`partitions`), the output topic (1 partition), `extra` topics (1 partition each,
 * named after their prefixes), and an unused group id.
 */
export async function freshTopics(
  kafka: Kafka,
  o: { partitions: number; extra?: string[] },
): Promise<{ topic: string; out: string; groupId: string; extra: string[] }> {
  const topic = uniqueName('nf-in');
  const out = uniqueName('nf-out');
  const extra = (o.extra ?? []).map((prefix) => uniqueName(prefix));
  await createTopics(kafka, [{ topic, numPartitions: o.partitions }, { topic: out, numPartitions: 1 }, ...extra.map((t) => ({ topic: t, numPartitions: 1 }))]);
  return { topic, out, groupId: uniqueName('nf-group'), extra };
}

export interface Msg {
  stream: string;
  step: number;
  ts: number;
  values: number[];
}

/** `steps` JSON steps for each stream, in time order, interleaved across streams. */
export function streamData(streams: string[], steps: number, anomalies: Record<string, InjectedAnomaly[]> = {}): Msg[] {
  const per = streams.map((s, i) => generateSeries(steps, { seed: 500 + i, phase: i * 3 }, anomalies[s] ?? []));
  const out: Msg[] = [];
  for (let t = 0; t < steps; t++)
    streams.forEach((s, i) => out.push({ stream: s, step: t, ts: T0 + t * 1000, values: Array.from(per[i][t], (x) => Number(x.toFixed(5))) }));
  return out;
}

/** Window ends (ts) of a stream of `steps` steps: "stream@endTs". */
export function expectedWindows(streams: string[], steps: number): Set<string> {
  const out = new Set<string>();
  for (const s of streams) for (let end = W - 1; end < steps; end += H) out.add(`${s}@${T0 + end * 1000}`);
  return out;
}

/**
 * Creates the topics and returns once every partition's leader answers (waitForLeaders alone
 * returns on metadata that a loaded broker may not act on yet: NOT_LEADER_FOR_PARTITION).
 */
export async function createTopics(kafka: Kafka, topics: { topic: string; numPartitions: number }[]): Promise<void> {
  const admin = kafka.admin();
  await retryKafka('admin connect', () => admin.connect());
  try {
    await admin.createTopics({ topics: topics.map((t) => ({ ...t, replicationFactor: 1 })), waitForLeaders: true });
    await waitForPartitionLeaders(admin, topics);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Produces messages; partition = index of the stream modulo `partitions`. Exactly once:
 * the producer is idempotent, and the partitions' end offsets are checked to have grown by
 * exactly the number of messages sent to each.
 *
 * Why: kafkajs retries a produce request per broker, so when one partition of a request
 * fails with a retriable error (e.g. NOT_LEADER_OR_FOLLOWER on a topic created a moment
 * ago, on a loaded machine) the partitions that were already appended are appended again
 * (https://github.com/tulios/kafkajs/issues/22). A duplicated input message is a new step
 * to the daemon: the streams of those partitions would get a second copy of their first
 * steps, and windows off the test's grid (an input bug that looks like a daemon bug).
 */
export async function produce(kafka: Kafka, topic: string, msgs: (Msg | { raw: Buffer | string | null; partition: number })[], streams: string[], partitions: number): Promise<void> {
  const partitionOf = (m: (typeof msgs)[number]) => ('raw' in m ? m.partition : streams.indexOf(m.stream) % partitions);
  const want = new Map<number, number>();
  for (const m of msgs) want.set(partitionOf(m), (want.get(partitionOf(m)) ?? 0) + 1);
  const admin = kafka.admin();
  await retryKafka('admin connect', () => admin.connect());
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  try {
    const before = endOffsets(await retryKafka(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic)));
    await producer.connect();
    for (let i = 0; i < msgs.length; i += 500) {
      await producer.send({
        topic,
        acks: -1,
        messages: msgs.slice(i, i + 500).map((m) =>
          'raw' in m
            ? { partition: m.partition, value: m.raw as Buffer }
            : { partition: partitionOf(m), key: m.stream, value: JSON.stringify({ stream: m.stream, ts: m.ts, values: m.values }) },
        ),
      });
    }
    const after = endOffsets(await retryKafka(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic)));
    const wrong = [...after].filter(([p, end]) => end - (before.get(p) ?? 0) !== (want.get(p) ?? 0));
    if (wrong.length) {
      const what = wrong.map(([p, end]) => `partition ${p}: ${end - (before.get(p) ?? 0)} appended, ${want.get(p) ?? 0} sent`).join('; ');
      throw new Error(`produce to ${topic} appended another number of messages than it sent (duplicates?): ${what}`);
    }
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}

function endOffsets(offsets: { partition: number; high: string }[]): Map<number, number> {
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

export interface OutRecord {
  stream: string;
  endTs: number;
  windowEnd: number;
  anomaly: boolean;
  score: number;
  instance: string;
}

/**
 * Reads a topic from the beginning until `until(records)` holds. Rejects after `timeoutMs`
 * with what it read so far: a reader that resolves on timeout lets the caller assert on a
 * partial read (and report it as a different failure, or not at all).
 */
export async function readTopic<T = OutRecord>(
  kafka: Kafka,
  topic: string,
  until: (records: T[]) => boolean,
  timeoutMs = 90_000,
  withHeaders = false,
): Promise<T[]> {
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Math.random().toString(36).slice(2)}`, sessionTimeout: 6000, heartbeatInterval: 500 });
  const records: T[] = [];
  await retryKafka(`reader connect to ${topic}`, () => consumer.connect());
  let done!: () => void;
  let fail!: (e: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const timer = setTimeout(
    () => fail(new Error(`readTopic ${topic}: condition not met after ${timeoutMs} ms; read ${records.length} records; last: ${records.slice(-3).map((r) => JSON.stringify(r)).join(' ')}`)),
    timeoutMs,
  );
  try {
    await retryKafka(`reader subscribe to ${topic}`, () => consumer.subscribe({ topics: [topic], fromBeginning: true }));
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (withHeaders) {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          records.push({ value: message.value?.toString() ?? null, headers } as T);
        } else records.push((message.value ? JSON.parse(message.value.toString()) : null) as T);
        if (until(records)) done();
      },
    });
    if (until(records)) done();
    await finished;
    return records;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}

/**
 * Every record of a topic that is done being written (its writer has exited): reads until
 * each partition's end offset, as it was when called, has been consumed. For assertions about
 * *all* records ("only stream X fired"), where stopping at the first match would sample.
 */
export async function readTopicToEnd<T = OutRecord>(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<T[]> {
  const admin = kafka.admin();
  await retryKafka('admin connect', () => admin.connect());
  let ends: Map<number, number>;
  try {
    ends = endOffsets(await retryKafka(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic)));
  } finally {
    await admin.disconnect();
  }
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  // Offsets start at 0 on these fresh topics (no retention ran), so the count is the sum of end offsets.
  const records = await readTopic<T>(kafka, topic, (rs) => rs.length >= total, timeoutMs);
  if (records.length !== total) throw new Error(`readTopicToEnd ${topic}: read ${records.length} records, end offsets sum to ${total}`);
  return records;
}

/** `p`, with the daemons' last log lines added to its error: a failed wait says what the daemon was doing. */
export function withDaemonLogs<T>(p: Promise<T>, ...daemons: ServeProcess[]): Promise<T> {
  return p.catch((e: Error) => {
    const tails = daemons.map((d, i) => `daemon ${i + 1}, last log lines:\n${d.logs.slice(-12).map((l) => JSON.stringify(l)).join('\n')}`);
    throw new Error(`${e.message}\n${tails.join('\n')}`, { cause: e });
  });
}

export function keyOf(r: OutRecord): string {
  return `${r.stream}@${r.endTs}`;
}

export async function writeConfig(dir: string, name: string, config: unknown): Promise<string> {
  const file = path.join(dir, `${name}.yaml`);
  await writeFile(file, YAML.stringify(config));
  return file;
}

/**
 * Waits until the daemon's consumer lag is 0 on all `partitions` of its input (/metrics; the
 * gauge is set after each batch, so a partition it has read nothing of yet does not count).
 */
export async function caughtUp(p: ServeProcess, partitions: number, timeoutMs = 120_000): Promise<void> {
  await p.waitFor(() => p.log('serving').length > 0, 'serving');
  const port = Number(p.log('serving')[0].http);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    const lags = text.split('\n').filter((l) => l.startsWith('noisefloor_consumer_lag_messages{'));
    if (lags.length === partitions && lags.every((l) => Number(l.split(' ').at(-1)) === 0)) return;
    if (Date.now() > deadline) throw new Error(`consumer lag not 0 on ${partitions} partitions after ${timeoutMs} ms: ${JSON.stringify(lags)}`);
    await sleep(200);
  }
}

/** SIGKILLs the daemons a test left running (afterEach), so no process outlives its test. */
export async function killRunning(running: ServeProcess[]): Promise<void> {
  for (const p of running.splice(0)) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) {
      p.kill('SIGKILL');
      await p.exited;
    }
  }
}

/**
 * The daemon as a child process: `node dist/src/cli/main.js serve --config file`. Its TMPDIR
 * is a folder of its own, removed when it exits: a daemon that trains its start-up model
 * (bootstrap) removes it on a clean stop, but a SIGKILLed one cannot.
 */
export class ServeProcess {
  readonly proc: ChildProcess;
  readonly tmp: string;
  readonly stdout: string[] = [];
  readonly logs: Record<string, unknown>[] = [];
  readonly exited: Promise<number | null>;
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];

  constructor(configFile: string, env: Record<string, string> = {}) {
    this.tmp = mkdtempSync(path.join(tmpdir(), 'nf-serve-proc-'));
    this.proc = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: this.tmp, NOISEFLOOR_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((r) =>
      this.proc.once('exit', (code) => {
        rmSync(this.tmp, { recursive: true, force: true });
        r(code);
      }),
    );
    lines(this.proc.stdout!, (l) => {
      this.stdout.push(l);
      this.check();
    });
    lines(this.proc.stderr!, (l) => {
      try {
        this.logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        this.logs.push({ msg: l });
      }
      this.check();
    });
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  /**
   * Waits until `pred` holds; rejects with the log tail after the timeout or on exit. `pred` is
   * checked on every output line of this daemon and also every 250 ms, because a predicate may
   * read another process's output (two daemons splitting partitions): when the other one
   * prints last and this one falls quiet, no line of ours would ever re-check it.
   */
  waitFor(pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const fail = (why: string) => {
        stop();
        reject(new Error(`${what}: ${why}; last log lines:\n${this.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`));
      };
      const timer = setTimeout(() => fail(`not after ${timeoutMs} ms`), timeoutMs);
      const poll = setInterval(() => {
        if (!pred()) return;
        stop();
        resolve();
      }, 250);
      void this.exited.then((code) => {
        if (!pred()) fail(`daemon exited with ${code}`);
      });
      const waiter = {
        pred,
        resolve: () => {
          stop();
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  log(msg: string): Record<string, unknown>[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }
}

function lines(stream: NodeJS.ReadableStream, on: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (l.trim()) on(l);
    }
  });
}

/** Base daemon config for the Kafka tests. */
export function kafkaConfig(o: { brokers: string[]; modelDir: string; topic: string; out: string; groupId: string; extra?: Record<string, unknown> }) {
  return {
    model: { dir: o.modelDir, watch: false },
    source: {
      kafka: {
        brokers: o.brokers,
        topics: [o.topic],
        groupId: o.groupId,
        fromBeginning: true,
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
        commitIntervalMs: 200,
        retries: 10,
        ...(o.extra ?? {}),
      },
    },
    outputs: { stdout: { enabled: true }, kafka: { topic: o.out } },
    http: { port: 0 },
    batching: { maxBatch: 16, maxWaitMs: 20, queueCapacity: 256 },
    shutdownTimeoutMs: 20000,
  };
}

/**
 * Wait until the group has committed an offset past 0 on `topic` (the daemon writes stream
 * state before it commits, so the changelog then holds state too). A SIGKILL test that kills
 * after a number of scored windows alone races the commit timer: a fast scorer can emit them
 * before the first commit.
 */
export async function waitForCommit(kafka: Kafka, groupId: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await retryKafka('admin connect', () => admin.connect());
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [t] = await retryKafka('committed offsets', () => admin.fetchOffsets({ groupId, topics: [topic] }));
      if (t && t.partitions.some((p) => Number(p.offset) > 0)) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId} committed nothing on ${topic} within ${timeoutMs} ms`);
      await sleep(100);
    }
  } finally {
    await admin.disconnect();
  }
}
