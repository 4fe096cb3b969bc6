/**
 * The duplicate bound follows the commit cadence (real broker, real CLI): with commits on
 * a timer that never fires before the SIGKILL, a restart re-emits everything the killed
 * daemon emitted; with `commitEveryBatches: 1` only what was scored since the last commit
 * that completed. Prints both figures (docs/BENCHMARKS.md).
 */
import { rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { sharedKafkaBrokers, testKafka, uniqueName } from '../support/kafka/client.js';
import { ServeProcess, createTopics, expectedWindows, kafkaConfig, keyOf, killRunning, produce, readTopic, streamData, trainTinyModel, writeConfig, type OutRecord } from './helpers.js';

let model: { dir: string; tmp: string };
const running: ServeProcess[] = [];

beforeAll(async () => {
  model = await trainTinyModel();
}, 300_000);

afterEach(() => killRunning(running));

afterAll(async () => {
  if (model) await rm(model.tmp, { recursive: true, force: true });
});

/** Kills a daemon after `n` windows, restarts it, returns how many of the first daemon's windows came out again. */
async function rescoredAfterKill(extra: Record<string, unknown>, n: number): Promise<{ before: number; rescored: number }> {
  const brokers = sharedKafkaBrokers();
  const kafka = testKafka(brokers);
  const topic = uniqueName('nf-in');
  const out = uniqueName('nf-out');
  const groupId = uniqueName('nf-group');
  await createTopics(kafka, [
    { topic, numPartitions: 2 },
    { topic: out, numPartitions: 1 },
  ]);
  const streams = ['q0', 'q1', 'q2', 'q3'];
  const steps = 400;
  await produce(kafka, topic, streamData(streams, steps), streams, 2);
  const cfg = { ...kafkaConfig({ brokers, modelDir: model.dir, topic, out, groupId, extra }), batching: { maxBatch: 4, maxWaitMs: 5, queueCapacity: 16 } };
  const file = await writeConfig(model.tmp, groupId, cfg);
  const a = new ServeProcess(file);
  running.push(a);
  await a.waitFor(() => a.stdout.length >= n, `${n} windows scored`);
  a.kill('SIGKILL');
  await a.exited;
  const killed = new Set(a.stdout.map((l) => keyOf(JSON.parse(l) as OutRecord)));
  const b = new ServeProcess(file);
  running.push(b);
  const want = expectedWindows(streams, steps);
  await b.waitFor(() => new Set([...killed, ...b.stdout.map((l) => keyOf(JSON.parse(l) as OutRecord))]).size >= want.size, 'the rest scored', 120_000);
  const again = b.stdout.map((l) => keyOf(JSON.parse(l) as OutRecord)).filter((k) => killed.has(k));
  // Nothing lost either way.
  const got = await readTopic(kafka, out, (rs) => new Set(rs.map(keyOf)).size >= want.size);
  expect([...want].filter((k) => !new Set(got.map(keyOf)).has(k))).toEqual([]);
  b.kill('SIGTERM');
  expect(await b.exited).toBe(0);
  return { before: killed.size, rescored: new Set(again).size };
}

it('commitEveryBatches bounds what a SIGKILL re-emits; the timer alone does not before it fires', async () => {
  const timerOnly = await rescoredAfterKill({ commitIntervalMs: 600_000, commitEveryBatches: 0 }, 120);
  const everyBatch = await rescoredAfterKill({ commitIntervalMs: 600_000, commitEveryBatches: 1 }, 120);
  console.log(JSON.stringify({ figure: 'commit-cadence', timerOnly, everyBatch, maxBatch: 4 }));
  // With commits after every batch, a kill re-emits about one batch, not what was scored.
  expect(everyBatch.rescored).toBeLessThan(everyBatch.before / 2);
  // The timer-only leg is a figure, not a bar: quiet, it re-emits all 120 (nothing was
  // committed); in 2 of 4 loaded CI runs it re-emitted only 28, cause not yet found (noted
  // on issue 14). Nothing is lost either way (asserted in rescoredAfterKill).
  expect(timerOnly.rescored).toBeGreaterThan(0);
}, 400_000);
