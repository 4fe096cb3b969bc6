/**
 * Kafka daemon benchmark against a local broker (test/support/kafka). The producer runs in
 * its own process (bench/kafka-producer.ts), so the figures are the daemon's alone: JSON
 * messages keyed by stream, one value each, `--streams` streams round robin.
 *
 * Two measurements, chosen by `--rate`:
 *  - throughput (`--rate 0`, default): the topic is produced in full first; then the daemon
 *    reads it from the beginning and `kcat` reads the same topic, and both are timed from
 *    their first message to their last: "daemon / kcat" compares like with like.
 *  - latency (`--rate R`): the daemon runs first; the producer sends R messages/s paced;
 *    latency is from the produce time in the payload to the score event reaching a sink.
 * Either way: peak RSS of this process (the daemon; the producer is elsewhere) and the
 * largest number of live streams.
 *
 * `--detector null` replaces the model by a null detector (decode, window, batch, commit,
 * sinks; no network): the consume path apart from the model. `--model default` (default)
 * serves the default model settings (mixer, window 64, hop 8) with untrained weights (speed
 * does not depend on them); `--model bootstrap` the daemon's tiny start-up model.
 *
 * Run from dist (compiled; `npm run bench:kafka` links dist/.cache to the broker jar cache)
 * so RSS is the daemon's and not a TypeScript loader's (tsx adds about 32 MiB at start).
 *
 *   npm run bench:kafka -- [--values 1000000] [--streams 1000] [--partitions 4] [--rate 0]
 *                          [--detector model|null] [--model default|bootstrap] [--batch 256]
 *                          [--max-wait-ms 20] [--latency-target-ms 0]   (0: fixed batching)
 *                          [--steps K --samples M]   (scoring overrides of the served model)
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { coreConfigSchema } from '../src/config/core.js';
import { daemonConfigSchema } from '../src/config/daemon.js';
import { Daemon } from '../src/daemon/daemon.js';
import type { ScoreEventSink } from '../src/daemon/outputs.js';
import type { Window } from '../src/ingest/types.js';
import { writeModelDir } from '../src/model/artifact.js';
import { initWeights } from '../src/model/denoiser.js';
import { makeSchedule } from '../src/model/schedule.js';
import { buildModelArtifact, denoiserSpecFrom, type CollectedWindows } from '../src/jobs/train.js';
import { toScoreEvent } from '../src/scoring/detector.js';
import type { ScoreEvent } from '../src/scoring/types.js';
import { SyntheticProcess } from '../src/ingest/synthetic.js';
import { createLogger, type Logger } from '../src/util/log.js';
import { startKafkaBroker } from '../test/support/kafka/broker.js';

const { Kafka, logLevel } = kafkajs;
const run = promisify(execFile);

const { values: args } = parseArgs({
  options: {
    values: { type: 'string', default: '1000000' },
    streams: { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '4' },
    rate: { type: 'string', default: '0' },
    detector: { type: 'string', default: 'model' },
    model: { type: 'string', default: 'default' },
    batch: { type: 'string', default: '256' },
    'max-wait-ms': { type: 'string', default: '20' },
    /** batching.latencyTargetMs; 0: the fixed rule (maxBatch or max-wait-ms). */
    'latency-target-ms': { type: 'string', default: '0' },
    /** Scoring overrides (model.scoring), e.g. a one-step recipe: --steps 1. */
    steps: { type: 'string' },
    samples: { type: 'string' },
  },
});
const N = Number(args.values);
const S = Number(args.streams);
const P = Number(args.partitions);
const RATE = Number(args.rate);
const NULL_DETECTOR = args.detector === 'null';
const perStream = Math.floor(N / S);

class LatencySink implements ScoreEventSink {
  readonly name = 'latency';
  readonly latencies: number[] = [];
  count = 0;
  async write(events: ScoreEvent[]): Promise<void> {
    const now = Date.now();
    this.count += events.length;
    for (const e of events) if (typeof e.endTs === 'number') this.latencies.push(now - e.endTs);
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** The default model settings (one channel) with untrained weights, calibrated on synthetic windows. */
async function defaultModelDir(log: Logger): Promise<string> {
  const config = coreConfigSchema.parse({});
  const spec = denoiserSpecFrom(config, 1);
  const schedule = makeSchedule(config.model.schedule, config.model.T);
  const proc = new SyntheticProcess({ channels: 1, seed: 3 });
  const row = new Float64Array(1);
  const W = config.window.length;
  const val: Window[] = Array.from({ length: 64 }, (_, i) => {
    const data = new Float32Array(W);
    for (let k = 0; k < W; k++) {
      proc.step(i * 8 + k, row);
      data[k] = row[0];
    }
    return { stream: 'v', channels: 1, length: W, data, start: i * 8, end: i * 8 + W - 1, missing: 0 };
  });
  const collected = { channels: ['value'], normalisation: { method: 'robust', center: [0], scale: [1] } } as unknown as CollectedWindows;
  const { onnx, manifest } = await buildModelArtifact(spec, schedule, initWeights(spec, 1), collected, val, config, { note: 'bench:kafka, untrained' }, log);
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'nf-bench-kafka-')), 'model');
  await writeModelDir(dir, onnx, manifest);
  return dir;
}

/** Runs the out-of-process producer to completion; its own summary line. */
function produce(brokers: string[], topic: string, rate: number): Promise<{ messages: number; seconds: number; rate: number }> {
  // Beside this file, with its extension: run by tsx, the child gets tsx's loader too (execArgv).
  const self = fileURLToPath(import.meta.url);
  const script = path.join(path.dirname(self), `kafka-producer${path.extname(self)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, '--brokers', brokers.join(','), '--topic', topic, '--values', String(N), '--streams', String(S), '--rate', String(rate)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`producer exited ${code}`))));
  });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30 * 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const log = createLogger({ level: 'warn' });
  const broker = await startKafkaBroker({ heapMb: 1024, logger: log });
  let modelRoot: string | null = null;
  try {
    const brokers = broker.brokers;
    const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
    const topic = 'bench-in';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: P, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const modelDir = args.model === 'bootstrap' ? undefined : await defaultModelDir(log);
    if (modelDir) modelRoot = path.dirname(modelDir);
    const config = daemonConfigSchema.parse({
      source: { kafka: { brokers, topics: [topic], groupId: 'bench', fromBeginning: true, commitIntervalMs: 1000 } },
      bootstrap: { channels: 1, window: 32, hop: 8 },
      model: {
        watch: false,
        ...(modelDir ? { dir: modelDir } : {}),
        scoring: { ...(args.steps ? { steps: Number(args.steps) } : {}), ...(args.samples ? { samples: Number(args.samples) } : {}) },
      },
      outputs: { stdout: { enabled: false } },
      http: { enabled: false },
      batching: { maxBatch: Number(args.batch), maxWaitMs: Number(args['max-wait-ms']), queueCapacity: 8192, latencyTargetMs: Number(args['latency-target-ms']) },
      streams: { maxStreams: S * 2 },
    });

    let produced: { messages: number; seconds: number; rate: number } | null = null;
    if (RATE === 0) produced = await produce(brokers, topic, 0);

    const daemon = new Daemon(config, log);
    const probe = new LatencySink();
    daemon.addSink(probe);
    await daemon.start();
    const det = daemon.model.detector();
    const { length: W, hop: H } = det.model.manifest.window;
    if (NULL_DETECTOR) {
      // The consume path without the network: every window gets a zero score.
      const zero = { raw: 0, score: 0, surprise: 0, anomaly: false, topChannel: 0, channelErrors: new Float32Array(1), timeErrors: new Float32Array(W), channelResiduals: new Float32Array(1) };
      const nullDetector = { scoreEvents: async (ws: Window[]) => ws.map((w) => toScoreEvent(w, zero, det.channelNames, Number.NaN, 'null')) };
      (daemon.model as unknown as { detector: () => unknown }).detector = () => nullDetector;
    }
    const expectedWindows = S * (Math.floor((perStream - W) / H) + 1);
    const source = daemon.source as unknown as { messages: number };
    let maxStreams = 0;
    // Where the memory is at the RSS peak: the V8 heap, or buffers outside it (fetches, ORT).
    let peakMem = process.memoryUsage();
    const sampler = setInterval(() => {
      maxStreams = Math.max(maxStreams, daemon.registry.streamCount);
      const m = process.memoryUsage();
      if (m.rss > peakMem.rss) peakMem = m;
    }, 100);

    // Progress on stderr, so a run that stalls says where (messages read, windows out, rejected).
    const progress = setInterval(() => {
      process.stderr.write(`progress: ${source.messages} messages read, ${probe.count} of ${expectedWindows} windows out, queue ${daemon.batcher.size}, rejected ${JSON.stringify(daemon.source.rejected?.() ?? {})}\n`);
    }, 10_000);
    progress.unref();
    const producing = RATE > 0 ? produce(brokers, topic, RATE) : null;
    await waitFor(() => source.messages > 0, 'the first message');
    const first = Date.now();
    await waitFor(() => source.messages >= N, 'every message');
    const consumedAt = Date.now();
    await waitFor(() => probe.count >= expectedWindows, 'every window');
    const scoredAt = Date.now();
    if (producing) produced = await producing;
    clearInterval(sampler);
    clearInterval(progress);
    maxStreams = Math.max(maxStreams, daemon.registry.streamCount);
    const rssMb = process.resourceUsage().maxRSS / 1024;
    // Why batches were cut, from the daemon's own counter.
    const byReason = (await daemon.metrics.registry.getSingleMetric('noisefloor_scoring_batches_total')!.get()).values
      .filter((v) => v.value > 0)
      .map((v) => `${v.labels.reason} ${v.value}`)
      .join(', ');
    const { batches, windowsScored } = daemon.stats;
    // The daemon's own queue-to-outputs latency (the part batching.latencyTargetMs covers), as bucket bounds.
    const hist = (await daemon.metrics.registry.getSingleMetric('noisefloor_window_latency_seconds')!.get()).values.filter((v) => (v as { metricName?: string }).metricName?.endsWith('_bucket'));
    const total = hist.find((v) => v.labels.le === '+Inf')?.value ?? 0;
    const bucketQ = (q: number) => {
      const b = hist.find((v) => v.value >= q * total);
      return b ? (b.labels.le === '+Inf' ? '>10 s' : `<= ${Number(b.labels.le) * 1000} ms`) : '-';
    };
    const cost = daemon.batcher.controller.cost;
    const queueLine = `queue->outputs per batch (oldest window; daemon histogram): p50 ${bucketQ(0.5)}, p99 ${bucketQ(0.99)}; measured cost ${cost.perBatchMs.toFixed(2)} ms per batch + ${cost.perWindowMs.toFixed(3)} ms per window`;
    await daemon.stop('benchmark done');

    // The same topic through kcat, first message to last (its start-up is timed apart).
    const clock = `c="date +%s%N"; c | getline x; close(c)`;
    const k = await run('sh', ['-c', `kcat -C -b ${brokers[0]} -t ${topic} -o beginning -e -q -f '%o\\n' | awk 'NR==1{${clock}; t=x} END{${clock}; print t; print x; print NR}'`], {
      maxBuffer: 1 << 20,
    });
    const [kStart, kEnd, kCount] = k.stdout.trim().split('\n').map(Number);
    const kcatS = (kEnd - kStart) / 1e9;

    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const consumeS = (consumedAt - first) / 1000;
    const daemonRate = source.messages / consumeS;
    const kcatRate = kCount / kcatS;
    const lines = [
      `detector: ${NULL_DETECTOR ? 'null (decode, window, batch, commit; no model)' : `model (${args.model === 'bootstrap' ? 'bootstrap' : 'default settings'}, ${det.model.spec.arch} W=${W} H=${H} K=${det.scorer.params.steps} M=${det.scorer.params.samples})`}, batch ${args.batch}`,
      `produced (separate process): ${fmt(produced!.messages)} messages over ${S} streams, ${P} partitions, ${fmt(produced!.rate)} msg/s${RATE ? ` (paced at ${fmt(RATE)})` : ' (before the daemon started)'}`,
      `daemon consumed: ${fmt(source.messages)} messages in ${consumeS.toFixed(2)} s first to last -> ${fmt(daemonRate)} msg/s; all ${fmt(probe.count)} windows (expected ${fmt(expectedWindows)}) out ${((scoredAt - first) / 1000).toFixed(2)} s after the first message`,
      `batching: maxBatch ${args.batch}, maxWaitMs ${args['max-wait-ms']}, latencyTargetMs ${args['latency-target-ms']}: ${fmt(batches)} batches, mean ${(windowsScored / Math.max(1, batches)).toFixed(1)} windows (${byReason})`,
      queueLine,
      `latency produce->score: p50 ${fmt(quantile(probe.latencies, 0.5))} ms, p99 ${fmt(quantile(probe.latencies, 0.99))} ms, max ${fmt(quantile(probe.latencies, 1))} ms`,
      `peak RSS (this process: daemon only): ${rssMb.toFixed(0)} MiB; live streams at most ${fmt(maxStreams)}; at the sampled peak (${(peakMem.rss / 2 ** 20).toFixed(0)} MiB): V8 heap used ${(peakMem.heapUsed / 2 ** 20).toFixed(0)} of ${(peakMem.heapTotal / 2 ** 20).toFixed(0)} MiB, array buffers ${(peakMem.arrayBuffers / 2 ** 20).toFixed(0)} MiB`,
      `kcat, same topic: ${fmt(kCount)} messages in ${kcatS.toFixed(2)} s first to last -> ${fmt(kcatRate)} msg/s; daemon/kcat = ${(daemonRate / kcatRate).toFixed(3)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await broker.stop();
    if (modelRoot) await rm(modelRoot, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
