/**
 * The Kafka benchmark's producer, run as its own process so its CPU and memory do not count
 * against the daemon's: JSON messages keyed by stream (`{"stream":"s1","ts":<produce ms, +1 if repeated>,
 * "value":1.2345}`), `--streams` streams round robin, `--values` messages in all, at most
 * `--rate` messages/s (0: as fast as it can). Prints one JSON line with what it did.
 *
 *   node dist/bench/kafka-producer.js --brokers host:port --topic t --values N --streams S [--rate R]
 */
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { SyntheticProcess } from '../src/ingest/synthetic.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

const { values: args } = parseArgs({
  options: {
    brokers: { type: 'string' },
    topic: { type: 'string' },
    values: { type: 'string', default: '1000000' },
    streams: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '0' },
  },
});
const N = Number(args.values);
const S = Number(args.streams);
const RATE = Number(args.rate);

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: 'bench-producer', brokers: String(args.brokers).split(','), logLevel: logLevel.NOTHING });
  // One request in flight, idempotent: a retried send (the new topic's leader not known yet)
  // must not land after later ones, or the daemon drops the reordered steps as late.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const procs = Array.from({ length: S }, (_, s) => new SyntheticProcess({ channels: 1, seed: s + 1, phase: s }));
  const row = new Float64Array(1);
  const lastTs = new Float64Array(S).fill(-Infinity);
  const perStream = Math.floor(N / S);
  // Paced: small sends every few ms keep the produce time in the payload close to the send.
  const batch = RATE > 0 ? Math.max(1, Math.min(2000, Math.round(RATE / 200))) : 2000;
  const t0 = Date.now();
  let pending: kafkajs.Message[] = [];
  const inflight: Promise<unknown>[] = [];
  let sent = 0;
  for (let step = 0; step < perStream; step++) {
    for (let s = 0; s < S; s++) {
      if (pending.length === 0 && RATE > 0) {
        const due = t0 + (sent / RATE) * 1000 - Date.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
      }
      procs[s].step(step, row);
      // Strictly increasing per stream: the daemon orders by event time and drops a repeated
      // timestamp as a duplicate (two sends of one stream within a millisecond when unpaced).
      const ts = Math.max(Date.now(), lastTs[s] + 1);
      lastTs[s] = ts;
      pending.push({ key: `s${s}`, value: `{"stream":"s${s}","ts":${ts},"value":${row[0].toFixed(4)}}` });
      sent++;
      if (pending.length >= batch) {
        inflight.push(producer.send({ topic: String(args.topic), acks: -1, messages: pending }));
        pending = [];
        if (inflight.length >= 1) await inflight.shift();
      }
    }
  }
  if (pending.length) inflight.push(producer.send({ topic: String(args.topic), acks: -1, messages: pending }));
  await Promise.all(inflight);
  const seconds = (Date.now() - t0) / 1000;
  await producer.disconnect();
  process.stdout.write(JSON.stringify({ messages: sent, seconds, rate: sent / seconds }) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
