/**
 * Commit failures are visible, and settings that cannot work are refused at start-up,
 * against the real broker with the real CLI: (i) a session timeout above the broker's
 * group.max.session.timeout.ms and (j) a pre-created changelog that is not compacted stop
 * start-up with an error naming the setting (exit 2); (k) the changelog disappears under a
 * running daemon: the failures are counted, /readyz turns 503 with the reason, and after
 * giveUpAfterMs the daemon exits 1 (supervisor restart) instead of running on uncommitted.
 */
import { describe, expect, it } from 'vitest';
import { retryKafka, sharedKafkaBrokers, testKafka, uniqueName } from '../support/kafka/client.js';
import { daemonFixture, freshTopics, kafkaConfig, produce, streamData, writeConfig, type ServeProcess } from './helpers.js';

const fx = daemonFixture();
const start = (file: string) => fx.start(file);

/** stderr text lines (the CLI's error message is not JSON). */
function stderrText(p: ServeProcess): string {
  return p.logs.map((l) => (typeof l.msg === 'string' ? l.msg : JSON.stringify(l))).join('\n');
}

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, text: await r.text() };
}

describe('serve: commit failures and broker limits', () => {
  it('(i) sessionTimeoutMs above group.max.session.timeout.ms: start-up fails naming both', async () => {
    const brokers = sharedKafkaBrokers();
    const kafka = testKafka(brokers);
    const { topic, out, groupId } = await freshTopics(kafka, { partitions: 1 });
    const cfg = kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId, extra: { sessionTimeoutMs: 3_600_000 } });
    const d = start(await writeConfig(fx.model.tmp, groupId, cfg));
    expect(await d.exited).toBe(2);
    const text = stderrText(d);
    expect(text).toContain('source.kafka.sessionTimeoutMs: 3600000 is above the broker');
    expect(text).toContain('group.max.session.timeout.ms');
  });

  it('(j) a pre-created changelog with cleanup.policy=delete is refused', async () => {
    const brokers = sharedKafkaBrokers();
    const kafka = testKafka(brokers);
    const {
      topic,
      out,
      groupId,
      extra: [changelog],
    } = await freshTopics(kafka, { partitions: 1, extra: ['nf-state'] });
    const cfg = kafkaConfig({ brokers, modelDir: fx.model.dir, topic, out, groupId, extra: { changelog: { topic: changelog } } });
    const d = start(await writeConfig(fx.model.tmp, groupId, cfg));
    expect(await d.exited).toBe(2);
    expect(stderrText(d)).toContain(`topic ${changelog} has cleanup.policy=delete; a state changelog must be compacted`);
  });

  it('(k) the changelog is deleted under a running daemon: failures counted, /readyz says why, exit 1 after giveUpAfterMs', async () => {
    const brokers = sharedKafkaBrokers();
    const kafka = testKafka(brokers);
    const { topic, out, groupId } = await freshTopics(kafka, { partitions: 2 });
    const changelog = uniqueName('nf-state');
    const streams = ['c0', 'c1', 'c2', 'c3'];
    const msgs = streamData(streams, 200);
    await produce(kafka, topic, msgs.slice(0, msgs.length / 2), streams, 2);
    const cfg = kafkaConfig({
      brokers,
      modelDir: fx.model.dir,
      topic,
      out,
      groupId,
      extra: { changelog: { topic: changelog }, retries: 1, initialRetryTimeMs: 100, requestTimeoutMs: 3000, giveUpAfterMs: 15_000, commitIntervalMs: 300 },
    });
    const d = start(await writeConfig(fx.model.tmp, groupId, cfg));
    await d.waitFor(() => d.log('serving').length > 0, 'serving');
    const port = d.log('serving')[0].http as number;
    await d.waitFor(() => d.stdout.length >= 10, 'first windows scored');
    expect((await get(port, '/readyz')).status).toBe(200);
    expect(d.log('state changelog topic created')[0]).toMatchObject({ topic: changelog, cleanupPolicy: 'compact' });

    const admin = kafka.admin();
    await retryKafka('admin connect', () => admin.connect());
    try {
      await admin.deleteTopics({ topics: [changelog] });
    } finally {
      await admin.disconnect();
    }
    // New input moves stream states: every commit now has states to write, and cannot.
    await produce(kafka, topic, msgs.slice(msgs.length / 2), streams, 2);
    await d.waitFor(() => d.log('stream state write failed; offsets not committed; will retry').length > 0, 'a failed state write', 60_000);
    const metrics = (await get(port, '/metrics')).text;
    const failures = Number(/noisefloor_commit_failures_total\{stage="changelog"\} (\d+)/.exec(metrics)?.[1]);
    expect(failures).toBeGreaterThan(0);
    // Once the failures persist (5 commit intervals, at least 5 s), /readyz says so.
    let ready = await get(port, '/readyz');
    const until = Date.now() + 30_000;
    while (ready.status === 200 && Date.now() < until && d.proc.exitCode === null) {
      await new Promise((r) => setTimeout(r, 250));
      ready = await get(port, '/readyz').catch(() => ready);
    }
    expect(ready.status).toBe(503);
    expect(ready.text).toContain('commits failing for');
    // giveUpAfterMs later the daemon gives up: exit 1 (not 0: its work is not committed).
    expect(await d.exited).toBe(1);
    expect(d.log('commits have failed for giveUpAfterMs; giving up').length).toBe(1);
  });
});
