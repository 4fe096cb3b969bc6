/**
 * The duplicate bound follows the commit cadence (real broker, real CLI): with commits on
 * a timer that never fires before the SIGKILL, a restart re-emits everything the killed
 * daemon emitted; with `commitEveryBatches: 1` only what was scored since the last commit
 * that completed. Prints both figures (docs/BENCHMARKS.md).
 *
 * The restarted daemon's re-emissions are counted once it has read both partitions to their
 * end (consumer lag 0) and drained on SIGTERM, not at the moment the two daemons together
 * have covered every window: the killed daemon may have finished one partition while the
 * other lagged, and the restarted one covers the lagging partition first, so counting then
 * saw only part of the re-emitted windows (28 of 120 in loaded runs; nothing had been
 * committed).
 */
import { expect, it } from 'vitest';
import { sharedKafkaBrokers, testKafka } from '../support/kafka/client.js';
import { caughtUp, daemonFixture, expectedWindows, freshTopics, kafkaConfig, keyOf, produce, readTopic, streamData, writeConfig, type OutRecord } from './helpers.js';

const fx = daemonFixture();

/** Kills a daemon after `n` windows, restarts it, returns how many of the first daemon's windows came out again. */
async function rescoredAfterKill(extra: Record<string, unknown>, n: number): Promise<{ before: number; rescored: number }> {
  const brokers = sharedKafkaBrokers();
  const kafka = testKafka(brokers);
  const { topic, out, groupId } = await freshTopics(kafka, { partitions: 2 });
  const streams = ['q0', 'q1', 'q2', 'q3'];
  const steps = 400;
  await produce(kafka, topic, streamData(streams, steps), streams, 2);
  const cfg = { ...kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId, extra }), batching: { maxBatch: 4, maxWaitMs: 5, queueCapacity: 16 } };
  const file = await writeConfig(fx.model.tmp, groupId, cfg);
  const a = fx.start(file);
  await a.waitFor(() => a.stdout.length >= n, `${n} windows scored`);
  a.kill('SIGKILL');
  await a.exited;
  const killed = new Set(a.stdout.map((l) => keyOf(JSON.parse(l) as OutRecord)));
  const b = fx.start(file);
  const want = expectedWindows(streams, steps);
  await b.waitFor(() => new Set([...killed, ...b.stdout.map((l) => keyOf(JSON.parse(l) as OutRecord))]).size >= want.size, 'the rest scored', 120_000);
  // Nothing lost either way.
  const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
  expect([...want].filter((k) => !new Set(got.map(keyOf)).has(k))).toEqual([]);
  // Everything b will re-emit: it has read both partitions to the end, and a clean stop
  // scores every queued window before it exits.
  await caughtUp(b, 2);
  b.kill('SIGTERM');
  expect(await b.exited).toBe(0);
  const again = b.stdout.map((l) => keyOf(JSON.parse(l) as OutRecord)).filter((k) => killed.has(k));
  return { before: killed.size, rescored: new Set(again).size };
}

it('commitEveryBatches bounds what a SIGKILL re-emits; the timer alone does not before it fires', async () => {
  const timerOnly = await rescoredAfterKill({ commitIntervalMs: 600_000, commitEveryBatches: 0 }, 120);
  const everyBatch = await rescoredAfterKill({ commitIntervalMs: 600_000, commitEveryBatches: 1 }, 120);
  console.log(JSON.stringify({ figure: 'commit-cadence', timerOnly, everyBatch, maxBatch: 4 }));
  // With commits after every batch, a kill re-emits about one batch, not what was scored.
  expect(everyBatch.rescored).toBeLessThan(everyBatch.before / 2);
  // Timer only: nothing was committed before the kill, so everything is emitted again.
  expect(timerOnly.rescored).toBe(timerOnly.before);
}, 400_000);
