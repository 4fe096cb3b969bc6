/**
 * Kafka daemon benchmark: a local broker (test/support/kafka), 1,000,000 values over 1,000
 * streams (JSON messages keyed by stream, one value each), the daemon in-process consuming
 * them while they are produced. Prints messages/s consumed, windows/s scored, p50/p99
 * latency from produce time to score, peak RSS of this process (producer + daemon), and, in
 * the same run, kcat reading the same topic as the raw ceiling.
 *
 *   npx tsx bench/kafka.ts [--values 1000000] [--streams 1000] [--partitions 4] [--rate msgs/s]
 *
 * Unpaced, the producer outruns scoring and the latency is mostly backlog; --rate below the
 * scoring capacity measures latency under a sustainable load.
 */
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { daemonConfigSchema } from '../src/config/daemon.js';
import { Daemon } from '../src/daemon/daemon.js';
import type { ScoreEventSink } from '../src/daemon/outputs.js';
import { SyntheticProcess } from '../src/ingest/synthetic.js';
import type { ScoreEvent } from '../src/scoring/types.js';
import { createLogger } from '../src/util/log.js';
import { startKafkaBroker } from '../test/support/kafka/broker.js';

const { Kafka, Partitioners, logLevel } = kafkajs;
const run = promisify(execFile);

const { values: args } = parseArgs({
  options: {
    values: { type: 'string', default: '1000000' },
    streams: { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '4' },
    /** Produce at most this many messages/s (0: as fast as possible); for latency under a sustainable load. */
    rate: { type: 'string', default: '0' },
  },
});
const N = Number(args.values);
const S = Number(args.streams);
const P = Number(args.partitions);
const RATE = Number(args.rate);
const perStream = Math.floor(N / S);
const W = 32;
const H = 8;
const expectedWindows = S * (Math.floor((perStream - W) / H) + 1);

class LatencySink implements ScoreEventSink {
  readonly name = 'latency';
  readonly latencies: number[] = [];
  firstAt = 0;
  lastAt = 0;
  count = 0;
  async write(events: ScoreEvent[]): Promise<void> {
    const now = Date.now();
    if (!this.firstAt) this.firstAt = now;
    this.lastAt = now;
    this.count += events.length;
    for (const e of events) if (typeof e.endTs === 'number') this.latencies.push(now - e.endTs);
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function main(): Promise<void> {
  const log = createLogger({ level: 'warn' });
  const broker = await startKafkaBroker({ heapMb: 1024, logger: log });
  try {
    const brokers = broker.brokers;
    const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
    const topic = 'bench-in';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: P, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const config = daemonConfigSchema.parse({
      source: { kafka: { brokers, topics: [topic], groupId: 'bench', fromBeginning: true, commitIntervalMs: 1000 } },
      bootstrap: { channels: 1, window: W, hop: H },
      model: { watch: false },
      outputs: { stdout: { enabled: false } },
      http: { enabled: false },
      batching: { maxBatch: 256, maxWaitMs: 20, queueCapacity: 8192 },
      streams: { maxStreams: S * 2 },
    });
    const daemon = new Daemon(config, log);
    const probe = new LatencySink();
    daemon.addSink(probe);
    await daemon.start();

    // Produce while the daemon consumes: ts in the payload is the produce time.
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const procs = Array.from({ length: S }, (_, s) => new SyntheticProcess({ channels: 1, seed: s + 1, phase: s }));
    const row = new Float64Array(1);
    const t0 = Date.now();
    const batch = 2000;
    let pending: kafkajs.Message[] = [];
    const inflight: Promise<unknown>[] = [];
    for (let step = 0; step < perStream; step++) {
      for (let s = 0; s < S; s++) {
        procs[s].step(step, row);
        pending.push({ key: `s${s}`, value: `{"stream":"s${s}","ts":${Date.now()},"value":${row[0].toFixed(4)}}` });
        if (pending.length >= batch) {
          if (RATE > 0) {
            const due = t0 + ((step * S + s) / RATE) * 1000 - Date.now();
            if (due > 0) await new Promise((r) => setTimeout(r, due));
          }
          inflight.push(producer.send({ topic, acks: 1, messages: pending }));
          pending = [];
          if (inflight.length >= 4) await inflight.shift();
        }
      }
    }
    if (pending.length) inflight.push(producer.send({ topic, acks: 1, messages: pending }));
    await Promise.all(inflight);
    const produceS = (Date.now() - t0) / 1000;
    await producer.disconnect();

    while (probe.count < expectedWindows) await new Promise((r) => setTimeout(r, 100));
    const doneAt = Date.now();
    const messages = (daemon.source as unknown as { messages: number }).messages;
    const consumeS = (doneAt - t0) / 1000;
    const scoreS = (probe.lastAt - probe.firstAt) / 1000;
    const rssMb = process.resourceUsage().maxRSS / 1024;
    await daemon.stop('benchmark done');

    // Raw ceiling: kcat reading the same topic from the beginning.
    const k0 = Date.now();
    const { stdout } = await run('sh', ['-c', `kcat -C -b ${brokers[0]} -t ${topic} -o beginning -e -q | wc -l`], { maxBuffer: 1 << 20 });
    const kcatS = (Date.now() - k0) / 1000;
    const kcatCount = Number(stdout.trim());

    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const lines = [
      `values/messages produced: ${fmt(N)} over ${S} streams, ${P} partitions (${fmt(N / produceS)} msg/s produced, ${produceS.toFixed(1)} s)`,
      `daemon messages consumed: ${fmt(messages)} in ${consumeS.toFixed(1)} s from first produce -> ${fmt(messages / consumeS)} msg/s`,
      `windows scored: ${fmt(probe.count)} (expected ${fmt(expectedWindows)}) -> ${fmt(probe.count / consumeS)} windows/s overall, ${fmt(probe.count / scoreS)} windows/s while scoring`,
      `latency produce->score: p50 ${fmt(quantile(probe.latencies, 0.5))} ms, p99 ${fmt(quantile(probe.latencies, 0.99))} ms`,
      `peak RSS (bench process: producer + daemon): ${rssMb.toFixed(0)} MiB`,
      `kcat raw ceiling: ${fmt(kcatCount)} messages in ${kcatS.toFixed(1)} s -> ${fmt(kcatCount / kcatS)} msg/s; daemon/kcat = ${((messages / consumeS) / (kcatCount / kcatS)).toFixed(3)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await broker.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
