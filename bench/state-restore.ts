/**
 * Stream state restore benchmark: a local broker (test/support/kafka), the daemon's state
 * changelog (src/daemon/changelog.ts) holding the states of `--streams` streams of one
 * input partition, each written `--updates` times (compaction has not run: the worst case
 * the restore reads), then the partition's restore on assignment, timed. Also restores
 * `--partitions` partitions with the streams spread over them, in parallel, as the daemon
 * does on assignment.
 *
 *   npx tsx bench/state-restore.ts [--streams 10000] [--updates 3] [--partitions 4]
 */
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { StateChangelog } from '../src/daemon/changelog.js';
import { encodeState } from '../src/daemon/streams.js';
import { createLogger } from '../src/util/log.js';
import { startKafkaBroker } from '../test/support/kafka/broker.js';

const { Kafka, logLevel } = kafkajs;

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '10000' },
    updates: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '4' },
  },
});
const S = Number(args.streams);
const U = Number(args.updates);
const P = Number(args.partitions);
const log = createLogger({ level: 'warn' });

const broker = await startKafkaBroker();
try {
  const kafka = new Kafka({ clientId: 'bench-state', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const input = `bench-in-${Date.now()}`;
  await admin.createTopics({ topics: [{ topic: input, numPartitions: P, replicationFactor: 1 }], waitForLeaders: true });
  const changelog = new StateChangelog(kafka, admin, { topic: `${input}-state`, replicationFactor: 1, create: true }, 'bench-group', log);
  await changelog.init([input]);
  const state = (s: number, u: number) => encodeState({ i: 8 * (u + 1), o: s * 10 + u, k: 0, t: 1_700_000_000_000 + u * 1000, f: 0, r: s * 10 + u, a: Date.now() });

  // One partition holding all S streams.
  const t0 = Date.now();
  for (let u = 0; u < U; u++) {
    await changelog.write([{ topic: input, partition: 0, changes: Array.from({ length: S }, (_, s) => ({ stream: `stream-${s}`, value: state(s, u) })) }]);
  }
  const writeS = (Date.now() - t0) / 1000;
  const one = await changelog.restore(input, 0);
  if (one.states.size !== S) throw new Error(`restored ${one.states.size} streams, wrote ${S}`);

  // The same streams spread over P partitions, restored in parallel.
  for (let u = 0; u < U; u++) {
    const lanes = Array.from({ length: P }, (_, p) => ({
      topic: input,
      partition: p,
      changes: Array.from({ length: Math.ceil(S / P) }, (_, j) => j * P + p)
        .filter((s) => s < S)
        .map((s) => ({ stream: `spread-${s}`, value: state(s, u) })),
    }));
    await changelog.write(lanes);
  }
  const tp = process.hrtime.bigint();
  const all = await Promise.all(Array.from({ length: P }, (_, p) => changelog.restore(input, p)));
  const parallelS = Number(process.hrtime.bigint() - tp) / 1e9;
  const restoredSpread = all.reduce((a, r) => a + [...r.states.keys()].filter((k) => k.startsWith('spread-')).length, 0);
  if (restoredSpread !== S) throw new Error(`restored ${restoredSpread} spread streams, wrote ${S}`);

  console.log(
    JSON.stringify(
      {
        streams: S,
        updatesPerStream: U,
        changelogRecordsWrittenPerSecond: Math.round((S * U) / writeS),
        restoreOnePartition: { streams: one.states.size, recordsRead: one.records, bytesRead: one.bytes, seconds: Number(one.seconds.toFixed(3)) },
        restoreSpread: { partitions: P, streams: restoredSpread, seconds: Number(parallelS.toFixed(3)), recordsRead: all.reduce((a, r) => a + r.records, 0) },
      },
      null,
      2,
    ),
  );
  await changelog.close();
  await admin.disconnect();
} finally {
  await broker.stop();
}
